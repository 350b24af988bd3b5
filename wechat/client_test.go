package wechat

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testAppID  = "wx0123456789abcdef"
	testSecret = "0123SECRETappsecretVALUE89abcdef"
)

// newTestClient points a Client at handler with a tiny backoff.
func newTestClient(t *testing.T, handler http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return &Client{AppID: testAppID, AppSecret: testSecret, BaseURL: srv.URL, Backoff: time.Millisecond}
}

func reply(w http.ResponseWriter, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	io.WriteString(w, body)
}

// errorChain is err and everything it wraps.
func errorChain(err error) []error {
	if err == nil {
		return nil
	}
	out := []error{err}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, errorChain(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, errorChain(e)...)
		}
	}
	return out
}

func TestCode2SessionReturnsTheSession(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		want        Session
	}{
		{"with a unionid", "application/json", `{"openid":"o1","session_key":"k1","unionid":"u1"}`, Session{"o1", "u1", "k1"}},
		// WeChat really does label JSON text/plain.
		{"without a unionid, labelled text/plain", "text/plain", `{"openid":"o2","session_key":"k2"}`, Session{OpenID: "o2", SessionKey: "k2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { reply(w, tt.contentType, tt.body) })
			got, err := c.Code2Session(context.Background(), "code")
			if err != nil {
				t.Fatal(err)
			}
			if *got != tt.want {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestCode2SessionSendsExactlyTheDocumentedQuery(t *testing.T) {
	var mu sync.Mutex
	var method, path string
	var query url.Values
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		method, path, query = r.Method, r.URL.Path, r.URL.Query()
		reply(w, "application/json", `{"openid":"o","session_key":"k"}`)
	})
	if _, err := c.Code2Session(context.Background(), "the+code/=&"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := url.Values{
		"appid":      {testAppID},
		"secret":     {testSecret},
		"js_code":    {"the+code/=&"},
		"grant_type": {"authorization_code"},
	}
	if method != http.MethodGet || path != "/sns/jscode2session" || !reflect.DeepEqual(query, want) {
		t.Errorf("got %s %s %v, want GET /sns/jscode2session %v", method, path, query, want)
	}
}

func TestCode2SessionTurnsErrcodesIntoAPIErrorsWithoutRetrying(t *testing.T) {
	for _, code := range []int{CodeInvalidCode, CodeCodeUsed, CodeRateLimited, CodeUserBlocked} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			var calls atomic.Int32
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				reply(w, "text/plain", fmt.Sprintf(`{"errcode":%d,"errmsg":"nope"}`, code))
			})
			_, err := c.Code2Session(context.Background(), "code")
			ae, ok := errors.AsType[*APIError](err)
			if !ok {
				t.Fatalf("got %v, want an *APIError", err)
			}
			if *ae != (APIError{Endpoint: "sns/jscode2session", Code: code, Msg: "nope"}) {
				t.Errorf("got %+v", *ae)
			}
			if want := fmt.Sprintf("wechat: sns/jscode2session: errcode %d: nope", code); err.Error() != want {
				t.Errorf("message %q, want %q", err, want)
			}
			if !IsCode(err, 1, code) || IsCode(err, CodeBusy) {
				t.Error("IsCode does not match the errcode")
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
		})
	}
}

func TestCode2SessionRetriesBusyThenSucceeds(t *testing.T) {
	var calls atomic.Int32
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			reply(w, "application/json", `{"errcode":-1,"errmsg":"system error"}`)
			return
		}
		reply(w, "application/json", `{"openid":"o","session_key":"k"}`)
	})
	s, err := c.Code2Session(context.Background(), "code")
	if err != nil || s.OpenID != "o" {
		t.Fatalf("got %v, %v", s, err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

func TestCode2SessionGivesUpOnBusyAfterRetriesPlusOneAttempts(t *testing.T) {
	tests := []struct {
		retries   int
		wantCalls int32
	}{
		{retries: 0, wantCalls: defaultRetries + 1}, // zero means the default
		{retries: 3, wantCalls: 4},
		{retries: -1, wantCalls: 1}, // negative disables retrying
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("Retries=%d", tt.retries), func(t *testing.T) {
			var calls atomic.Int32
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				reply(w, "application/json", `{"errcode":-1,"errmsg":"system error"}`)
			})
			c.Retries = tt.retries
			_, err := c.Code2Session(context.Background(), "code")
			if !IsCode(err, CodeBusy) {
				t.Errorf("got %v, want errcode -1", err)
			}
			if n := calls.Load(); n != tt.wantCalls {
				t.Errorf("%d calls, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestRetriesBackOffExponentially(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		reply(w, "application/json", `{"errcode":-1,"errmsg":"busy"}`)
	})
	c.Retries, c.Backoff = 3, 20*time.Millisecond
	_, _ = c.Code2Session(context.Background(), "code")
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 4 {
		t.Fatalf("%d calls, want 4", len(at))
	}
	for i := 1; i < len(at); i++ {
		// Timers never fire early, so the lower bounds are exact.
		if gap, min := at[i].Sub(at[i-1]), c.Backoff<<(i-1); gap < min {
			t.Errorf("wait before attempt %d was %v, want at least %v", i+1, gap, min)
		}
	}
}

// failingTransport fails the first n round trips, quoting the URL the way a
// careless RoundTripper might, then passes through.
type failingTransport struct {
	n     atomic.Int32
	calls atomic.Int32
}

func (f *failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.calls.Add(1)
	if f.n.Add(-1) >= 0 {
		return nil, fmt.Errorf("dial failed for %s", r.URL)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestCode2SessionRetriesTransportFailures(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		reply(w, "application/json", `{"openid":"o","session_key":"k"}`)
	})
	ft := &failingTransport{}
	ft.n.Store(2)
	c.HTTPClient = &http.Client{Transport: ft}
	s, err := c.Code2Session(context.Background(), "code")
	if err != nil || s.OpenID != "o" {
		t.Fatalf("got %v, %v", s, err)
	}
	if n := ft.calls.Load(); n != 3 {
		t.Errorf("%d round trips, want 3", n)
	}
}

func TestCode2SessionReportsBadAnswersWithoutRetrying(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"not JSON", 200, `<html>busy</html>`, "not JSON"},
		{"empty", 200, ``, "not JSON"},
		{"a non-2xx status", 502, `{"errcode":-1}`, "HTTP status 502"},
		{"no session_key", 200, `{"openid":"o"}`, "lacks openid or session_key"},
		{"no openid", 200, `{"errcode":0,"session_key":"k"}`, "lacks openid or session_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			_, err := c.Code2Session(context.Background(), "code")
			if err == nil || !strings.Contains(err.Error(), "sns/jscode2session") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming the endpoint and %q", err, tt.want)
			}
			if _, ok := errors.AsType[*APIError](err); ok {
				t.Errorf("got an *APIError for %s", tt.name)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
		})
	}
}

func TestCode2SessionStopsBackingOffWhenTheContextIsCancelled(t *testing.T) {
	var calls atomic.Int32
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		reply(w, "application/json", `{"errcode":-1,"errmsg":"busy"}`)
	})
	c.Backoff = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Code2Session(ctx, "code")
	if time.Since(start) > 5*time.Second {
		t.Fatal("the backoff ignored the context")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !IsCode(err, CodeBusy) {
		t.Errorf("got %v, want the deadline and the last errcode", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

func TestEachCallIsBoundedByTheHTTPClientTimeout(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	c.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond}
	c.Retries = -1
	start := time.Now()
	_, err := c.Code2Session(context.Background(), "code")
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("got %v after %v, want a timeout", err, time.Since(start))
	}
	if _, ok := errors.AsType[*transportError](err); !ok {
		t.Errorf("got %T %v, want a transport error", err, err)
	}
	if defaultHTTPClient.Timeout != 10*time.Second {
		t.Errorf("default timeout %v, want 10s", defaultHTTPClient.Timeout)
	}
}

func TestErrorsNeverContainTheAppSecret(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	handler := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	tests := []struct {
		name string
		call func(t *testing.T) error
	}{
		{"connection refused", func(t *testing.T) error {
			c := &Client{AppID: testAppID, AppSecret: testSecret, BaseURL: closed.URL, Backoff: time.Millisecond}
			_, err := c.Code2Session(context.Background(), "code")
			return err
		}},
		{"a transport that quotes the URL", func(t *testing.T) error {
			c := newTestClient(t, handler(200, `{}`))
			ft := &failingTransport{}
			ft.n.Store(100)
			c.HTTPClient = &http.Client{Transport: ft}
			_, err := c.Code2Session(context.Background(), "code")
			return err
		}},
		{"a timeout", func(t *testing.T) error {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
			c.HTTPClient, c.Retries = &http.Client{Timeout: 10 * time.Millisecond}, -1
			_, err := c.Code2Session(context.Background(), "code")
			return err
		}},
		{"cancelled while backing off", func(t *testing.T) error {
			c := &Client{AppID: testAppID, AppSecret: testSecret, BaseURL: closed.URL, Backoff: time.Hour}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			_, err := c.Code2Session(ctx, "code")
			return err
		}},
		{"not JSON", func(t *testing.T) error {
			_, err := newTestClient(t, handler(200, "secret="+testSecret)).Code2Session(context.Background(), "code")
			return err
		}},
		{"an APIError", func(t *testing.T) error {
			_, err := newTestClient(t, handler(200, `{"errcode":40029,"errmsg":"invalid code"}`)).Code2Session(context.Background(), "code")
			return err
		}},
		{"an HTTP error", func(t *testing.T) error {
			_, err := newTestClient(t, handler(500, testSecret)).Code2Session(context.Background(), "code")
			return err
		}},
		{"a bad BaseURL", func(t *testing.T) error {
			c := &Client{AppID: testAppID, AppSecret: testSecret, BaseURL: "http://[::1"}
			_, err := c.Code2Session(context.Background(), "code")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(t)
			if err == nil {
				t.Fatal("got no error")
			}
			for _, e := range errorChain(err) {
				if msg := e.Error(); strings.Contains(msg, testSecret) {
					t.Errorf("%T in the chain says %q", e, msg)
				}
			}
			if s := fmt.Sprintf("%+v %#v", err, err); strings.Contains(s, testSecret) {
				t.Errorf("formatting the error shows the secret: %s", s)
			}
		})
	}
}

// fakeWeChat serves stable_token (tokens tok-1, tok-2, …) and lets a test
// script the token-protected endpoints.
type fakeWeChat struct {
	mu      sync.Mutex
	fetches []bool // force_refresh of each stable_token call
	seen    []*http.Request
	bodies  []string
	handle  func(w http.ResponseWriter, r *http.Request, token string, call int)
}

// state copies what the fake has seen so far.
func (f *fakeWeChat) state() (fetches []bool, seen []*http.Request, bodies []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bool(nil), f.fetches...), append([]*http.Request(nil), f.seen...), append([]string(nil), f.bodies...)
}

func (f *fakeWeChat) client(t *testing.T) *Client {
	return newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cgi-bin/stable_token" {
			var body struct {
				ForceRefresh bool `json:"force_refresh"`
			}
			json.NewDecoder(r.Body).Decode(&body)
			f.mu.Lock()
			f.fetches = append(f.fetches, body.ForceRefresh)
			n := len(f.fetches)
			f.mu.Unlock()
			time.Sleep(20 * time.Millisecond) // let concurrent callers pile up
			reply(w, "application/json", fmt.Sprintf(`{"access_token":"tok-%d","expires_in":7200}`, n))
			return
		}
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.seen = append(f.seen, r)
		f.bodies = append(f.bodies, string(b))
		call := len(f.seen)
		f.mu.Unlock()
		f.handle(w, r, r.URL.Query().Get("access_token"), call)
	})
}

const phoneAnswer = `{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"+86 13800138000","purePhoneNumber":"13800138000","countryCode":%s,"watermark":{"timestamp":1700000000,"appid":"` + testAppID + `"}}}`

func TestGetUserPhoneNumberReadsBothCountryCodeForms(t *testing.T) {
	tests := []struct {
		name, openid, countryCode, wantBody string
	}{
		{"a string countryCode, no openid", "", `"86"`, `{"code":"c1"}`},
		{"a number countryCode, with openid", "o1", `86`, `{"code":"c1","openid":"o1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeWeChat{handle: func(w http.ResponseWriter, r *http.Request, token string, call int) {
				reply(w, "application/json", fmt.Sprintf(phoneAnswer, tt.countryCode))
			}}
			c := f.client(t)
			p, err := c.GetUserPhoneNumber(context.Background(), "c1", tt.openid)
			if err != nil {
				t.Fatal(err)
			}
			want := PhoneInfo{"+86 13800138000", "13800138000", "86", Watermark{testAppID, 1700000000}}
			if *p != want {
				t.Errorf("got %+v, want %+v", *p, want)
			}
			_, seen, bodies := f.state()
			r := seen[0]
			if r.Method != http.MethodPost || r.URL.Path != "/wxa/business/getuserphonenumber" ||
				r.URL.RawQuery != "access_token=tok-1" || bodies[0] != tt.wantBody {
				t.Errorf("sent %s %s?%s %s", r.Method, r.URL.Path, r.URL.RawQuery, bodies[0])
			}
		})
	}
}

func TestGetUserPhoneNumberRetriesOnceWithAFreshTokenWhenTheTokenIsRefused(t *testing.T) {
	for _, code := range []int{CodeInvalidCredential, CodeInvalidAccessToken, CodeAccessTokenExpired} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f := &fakeWeChat{handle: func(w http.ResponseWriter, r *http.Request, token string, call int) {
				if token == "tok-1" {
					reply(w, "application/json", fmt.Sprintf(`{"errcode":%d,"errmsg":"bad token"}`, code))
					return
				}
				reply(w, "application/json", fmt.Sprintf(phoneAnswer, `"86"`))
			}}
			p, err := f.client(t).GetUserPhoneNumber(context.Background(), "c1", "")
			if err != nil || p.PurePhoneNumber != "13800138000" {
				t.Fatalf("got %v, %v", p, err)
			}
			fetches, seen, _ := f.state()
			if want := []bool{false, true}; !reflect.DeepEqual(fetches, want) {
				t.Errorf("force_refresh of each fetch %v, want %v", fetches, want)
			}
			if len(seen) != 2 || seen[1].URL.Query().Get("access_token") != "tok-2" {
				t.Errorf("%d phone calls, want a second one with tok-2", len(seen))
			}
		})
	}
}

func TestGetUserPhoneNumberGivesUpWhenTheFreshTokenIsRefusedToo(t *testing.T) {
	f := &fakeWeChat{handle: func(w http.ResponseWriter, r *http.Request, token string, call int) {
		reply(w, "application/json", `{"errcode":40001,"errmsg":"invalid credential"}`)
	}}
	_, err := f.client(t).GetUserPhoneNumber(context.Background(), "c1", "")
	if !IsCode(err, CodeInvalidCredential) {
		t.Fatalf("got %v, want an APIError 40001", err)
	}
	if fetches, seen, _ := f.state(); len(seen) != 2 || len(fetches) != 2 {
		t.Errorf("%d phone calls and %d token fetches, want 2 and 2", len(seen), len(fetches))
	}
}

func TestGetUserPhoneNumberDoesNotRetryOtherErrcodes(t *testing.T) {
	f := &fakeWeChat{handle: func(w http.ResponseWriter, r *http.Request, token string, call int) {
		reply(w, "application/json", `{"errcode":40029,"errmsg":"invalid code"}`)
	}}
	_, err := f.client(t).GetUserPhoneNumber(context.Background(), "c1", "")
	if fetches, seen, _ := f.state(); !IsCode(err, CodeInvalidCode) || len(seen) != 1 || len(fetches) != 1 {
		t.Errorf("got %v after %d calls and %d fetches, want 40029 after 1 and 1", err, len(seen), len(fetches))
	}
}

func TestGetUserPhoneNumberRejectsAnAnswerWithoutAPhone(t *testing.T) {
	f := &fakeWeChat{handle: func(w http.ResponseWriter, r *http.Request, token string, call int) {
		reply(w, "application/json", `{"errcode":0,"errmsg":"ok"}`)
	}}
	if _, err := f.client(t).GetUserPhoneNumber(context.Background(), "c1", ""); err == nil || !strings.Contains(err.Error(), "phone_info") {
		t.Errorf("got %v, want an error about phone_info", err)
	}
}

func TestConcurrentCallsFetchTheAccessTokenOnce(t *testing.T) {
	f := &fakeWeChat{handle: func(w http.ResponseWriter, r *http.Request, token string, call int) {
		reply(w, "application/json", fmt.Sprintf(phoneAnswer, `"86"`))
	}}
	c := f.client(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			if _, err := c.GetUserPhoneNumber(context.Background(), "c", ""); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if fetches, seen, _ := f.state(); len(fetches) != 1 || len(seen) != 100 {
		t.Errorf("%d token fetches for %d calls, want 1 for 100", len(fetches), len(seen))
	}
}

func TestCheckSessionSignsTheEmptyMessageWithTheSessionKeyText(t *testing.T) {
	const sessionKey = "tiihtNczf5v6AKRyjwEUhQ=="
	m := hmac.New(sha256.New, []byte(sessionKey))
	m.Write([]byte(""))
	computed := hex.EncodeToString(m.Sum(nil))
	// The same, computed with `printf '' | openssl dgst -sha256 -hmac 'tiihtNczf5v6AKRyjwEUhQ=='`.
	const openssl = "7154f9f8b4b76b92f541cbf0e37d48840fa06e5e42da92a6f80168a1516a4735"
	if computed != openssl {
		t.Fatalf("test vectors disagree: %s vs %s", computed, openssl)
	}

	f := &fakeWeChat{handle: func(w http.ResponseWriter, r *http.Request, token string, call int) {
		reply(w, "application/json", `{"errcode":0,"errmsg":"ok"}`)
	}}
	if err := f.client(t).CheckSession(context.Background(), "o1", sessionKey); err != nil {
		t.Fatal(err)
	}
	_, seen, _ := f.state()
	r := seen[0]
	want := url.Values{"access_token": {"tok-1"}, "signature": {openssl}, "openid": {"o1"}, "sig_method": {"hmac_sha256"}}
	if r.Method != http.MethodGet || r.URL.Path != "/wxa/checksession" || !reflect.DeepEqual(r.URL.Query(), want) {
		t.Errorf("sent %s %s %v, want GET /wxa/checksession %v", r.Method, r.URL.Path, r.URL.Query(), want)
	}
}

func TestCheckSessionReportsAnOutdatedSessionKeyAsAnAPIError(t *testing.T) {
	f := &fakeWeChat{handle: func(w http.ResponseWriter, r *http.Request, token string, call int) {
		reply(w, "application/json", `{"errcode":87009,"errmsg":"invalid signature"}`)
	}}
	err := f.client(t).CheckSession(context.Background(), "o1", "k")
	if ae, ok := errors.AsType[*APIError](err); !ok || ae.Code != CodeInvalidSignature || ae.Endpoint != "wxa/checksession" {
		t.Errorf("got %v, want APIError 87009 from wxa/checksession", err)
	}
	if _, seen, _ := f.state(); len(seen) != 1 {
		t.Errorf("%d calls, want 1", len(seen))
	}
}

func TestIsCodeMatchesOnlyWrappedAPIErrors(t *testing.T) {
	wrapped := fmt.Errorf("login: %w", &APIError{Endpoint: "e", Code: 40029})
	tests := []struct {
		name  string
		err   error
		codes []int
		want  bool
	}{
		{"a wrapped match", wrapped, []int{40163, 40029}, true},
		{"a wrapped mismatch", wrapped, []int{40163}, false},
		{"no codes", wrapped, nil, false},
		{"not an APIError", errors.New("errcode 40029"), []int{40029}, false},
		{"nil", nil, []int{0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsCode(tt.err, tt.codes...); got != tt.want {
				t.Errorf("IsCode = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConcurrentCallsReuseTheirConnections(t *testing.T) {
	const concurrency = 32
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // a WeChat round trip, so that the calls overlap
		reply(w, "application/json", `{"openid":"o1","session_key":"k1"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := &Client{AppID: testAppID, AppSecret: testSecret, BaseURL: srv.URL} // the default HTTP client
	burst := func() {
		var wg sync.WaitGroup
		for range concurrency {
			wg.Go(func() {
				if _, err := c.Code2Session(context.Background(), "code"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	burst()
	first := opened.Load()
	burst()
	// With http.DefaultTransport's 2 idle connections per host, the second
	// burst opens about concurrency-2 new ones.
	if again := opened.Load() - first; again > 4 {
		t.Errorf("a second burst of %d calls opened %d new connections (the first opened %d); want them reused", concurrency, again, first)
	}
}

func TestARedirectIsNotFollowedSoTheAppSecretGoesNowhereElse(t *testing.T) {
	var elsewhere atomic.Int64
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		reply(w, "application/json", `{"access_token":"stolen","expires_in":7200}`)
	}))
	t.Cleanup(thief.Close)
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, thief.URL+r.URL.RequestURI(), status)
			})
			if _, err := c.FetchAccessToken(t.Context(), false); err == nil {
				t.Fatal("a redirected stable_token succeeded")
			}
			if _, err := c.Code2Session(t.Context(), "code"); err == nil {
				t.Fatal("a redirected jscode2session succeeded")
			}
			if n := elsewhere.Load(); n != 0 {
				t.Fatalf("the redirect target received %d requests", n)
			}
		})
	}
}
