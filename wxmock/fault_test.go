package wxmock

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestFailAnswersTheErrcodeForTheNextCallsThenServesNormally(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		errcode int
		times   int
		call    func(t *testing.T, s *Server, code string) int
	}{
		{"system busy on login", PathJSCode2Session, errSystemBusy, 2, func(t *testing.T, s *Server, code string) int {
			return do(t, s, http.MethodGet, sessionURL(testAppID, testSecret, code, "authorization_code"), nil).errcode()
		}},
		{"minute quota on stable_token", PathStableToken, errMinuteQuota, 1, func(t *testing.T, s *Server, _ string) int {
			return stableToken(t, s, false).errcode()
		}},
		{"high-risk user on login", PathJSCode2Session, errCodeBlocked, 3, func(t *testing.T, s *Server, code string) int {
			return do(t, s, http.MethodGet, sessionURL(testAppID, testSecret, code, "authorization_code"), nil).errcode()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t, Config{})
			code := s.Code("alice")
			s.Fail(tt.path, tt.errcode, tt.times)
			for i := range tt.times {
				if got := tt.call(t, s, code); got != tt.errcode {
					t.Fatalf("call %d answered %d, want injected %d", i+1, got, tt.errcode)
				}
			}
			// The same code still works: a fault consumes nothing.
			if got := tt.call(t, s, code); got != 0 {
				t.Errorf("call after the fault ran out answered %d, want success", got)
			}
			if got := s.Stats().Calls[tt.path]; got != tt.times+1 {
				t.Errorf("Calls[%s] = %d, want %d (faults count as calls)", tt.path, got, tt.times+1)
			}
		})
	}
}

func TestFailWithNegativeTimesLastsUntilCleared(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	s.Fail(PathToken, errDailyQuota, -1)
	for range 5 {
		if got := legacyToken(t, s).errcode(); got != errDailyQuota {
			t.Fatalf("errcode = %d, want %d while the fault lasts", got, errDailyQuota)
		}
	}
	s.Fail(PathToken, 0, 0)
	if got := legacyToken(t, s).errcode(); got != 0 {
		t.Errorf("after clearing, errcode = %d", got)
	}
	if st := s.Stats(); st.TokensIssued[endpointToken] != 1 {
		t.Errorf("faults issued tokens: %+v", st.TokensIssued)
	}
}

func TestFailOnAnUnknownPathPanics(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	defer func() {
		if recover() == nil {
			t.Errorf("Fail on a path the fake does not serve did not panic")
		}
	}()
	s.Fail("/sns/jscode2sesion", -1, 1)
}

func TestResetClearsCountersAndFaultsButKeepsCodes(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	code := s.Code("alice")
	stableToken(t, s, false)
	s.Fail(PathJSCode2Session, errSystemBusy, -1)
	s.Reset()

	st := s.Stats()
	if st.Calls[PathStableToken] != 0 || st.TokenFetches[endpointStable] != 0 || st.TokensIssued[endpointStable] != 0 {
		t.Errorf("counters survived Reset: %+v", st)
	}
	if got := do(t, s, http.MethodGet, sessionURL(testAppID, testSecret, code, "authorization_code"), nil).errcode(); got != 0 {
		t.Errorf("after Reset the code answered %d; want the fault gone and the code kept", got)
	}
}

func TestLatencyDelaysWeChatCallsOnly(t *testing.T) {
	const latency = 200 * time.Millisecond
	s, _ := newTestServer(t, Config{Latency: latency})

	start := time.Now()
	stableToken(t, s, false)
	if took := time.Since(start); took < latency {
		t.Errorf("WeChat API call took %v, want at least %v", took, latency)
	}

	start = time.Now()
	do(t, s, http.MethodGet, "/mock/stats", nil)
	if took := time.Since(start); took >= latency {
		t.Errorf("/mock/stats took %v; control calls must not be delayed", took)
	}
}

func TestLatencyEndsEarlyWhenTheClientGivesUp(t *testing.T) {
	s, _ := newTestServer(t, Config{Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, sessionURL(testAppID, testSecret, s.Code("alice"), "authorization_code"), nil)
	rec := httptest.NewRecorder()

	done := make(chan struct{})
	go func() { s.ServeHTTP(rec, req); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler still waiting on latency after the request was cancelled")
	}
	if rec.Body.Len() != 0 {
		t.Errorf("cancelled call still answered %q", rec.Body.String())
	}
}
