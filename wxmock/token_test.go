package wxmock

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func expiresIn(t *testing.T, r reply) int {
	t.Helper()
	n, ok := r.body["expires_in"].(json.Number)
	i, err := n.Int64()
	if !ok || err != nil {
		t.Fatalf("no integer expires_in in %v", r.body)
	}
	return int(i)
}

func TestStableTokenReturnsTheSameTokenUntilForceRefresh(t *testing.T) {
	s, clock := newTestServer(t, Config{})
	first := stableToken(t, s, false)
	a := mustToken(t, first)
	if got := expiresIn(t, first); got != 7200 {
		t.Errorf("fresh token expires_in = %d, want 7200", got)
	}

	clock.Advance(10 * time.Minute)
	again := stableToken(t, s, false)
	if mustToken(t, again) != a {
		t.Fatalf("normal call within validity returned a new token")
	}
	if got := expiresIn(t, again); got != 7200-600 {
		t.Errorf("expires_in after 10 minutes = %d, want the %d seconds left", got, 7200-600)
	}

	b := mustToken(t, stableToken(t, s, true))
	if b == a {
		t.Fatalf("force_refresh returned the old token")
	}
	if got := useToken(t, s, a); got != errInvalidCredential {
		t.Errorf("token replaced by force_refresh answers %d, want %d", got, errInvalidCredential)
	}
	if got := useToken(t, s, b); got != 0 {
		t.Errorf("new token answers %d, want 0", got)
	}
}

func TestStableTokenIgnoresForcedRefreshesUnder30SecondsApart(t *testing.T) {
	s, clock := newTestServer(t, Config{})
	a := mustToken(t, stableToken(t, s, true))
	clock.Advance(29 * time.Second)
	if b := mustToken(t, stableToken(t, s, true)); b != a {
		t.Errorf("second forced refresh after 29 s issued a new token")
	}
	clock.Advance(time.Second)
	if c := mustToken(t, stableToken(t, s, true)); c == a {
		t.Errorf("forced refresh 30 s after the previous one did not refresh")
	}
}

func TestStableTokenRenewsInItsLastFiveMinutesAndKeepsTheOldOneWorking(t *testing.T) {
	s, clock := newTestServer(t, Config{})
	a := mustToken(t, stableToken(t, s, false))

	clock.Advance(7200*time.Second - 5*time.Minute)
	r := stableToken(t, s, false)
	b := mustToken(t, r)
	if b == a {
		t.Fatalf("call in the last five minutes returned the old token")
	}
	if got := expiresIn(t, r); got < 300 {
		t.Errorf("expires_in = %d, WeChat promises at least 300", got)
	}
	if got := useToken(t, s, a); got != 0 {
		t.Errorf("old token in its last minutes answers %d, want it still working", got)
	}
	clock.Advance(5 * time.Minute)
	if got := useToken(t, s, a); got != errAccessTokenExpired {
		t.Errorf("old token after its expiry answers %d, want %d", got, errAccessTokenExpired)
	}
	if got := useToken(t, s, b); got != 0 {
		t.Errorf("renewed token answers %d, want 0", got)
	}
}

func TestStableTokenAnswersEachDocumentedError(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	body := func(grant, appid, secret string) map[string]any {
		return map[string]any{"grant_type": grant, "appid": appid, "secret": secret}
	}
	tests := []struct {
		name   string
		method string
		body   any
		want   int
	}{
		{"GET instead of POST", http.MethodGet, nil, errRequirePOST},
		{"body a form, not JSON: WeChat finds no appid", http.MethodPost, "grant_type=client_credential&appid=" + testAppID + "&secret=" + testSecret, errAppIDMissing},
		{"no body at all", http.MethodPost, "", errAppIDMissing},
		{"appid missing", http.MethodPost, body("client_credential", "", testSecret), errAppIDMissing},
		{"wrong appid", http.MethodPost, body("client_credential", "wx0000000000000000", testSecret), errInvalidAppID},
		{"secret missing", http.MethodPost, body("client_credential", testAppID, ""), errAppSecretMissing},
		{"wrong secret", http.MethodPost, body("client_credential", testAppID, "nope"), errInvalidAppSecret},
		{"wrong grant_type", http.MethodPost, body("authorization_code", testAppID, testSecret), errInvalidGrantType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := do(t, s, tt.method, PathStableToken, tt.body).errcode(); got != tt.want {
				t.Errorf("errcode = %d, want %d", got, tt.want)
			}
		})
	}
	if st := s.Stats(); st.TokensIssued[endpointStable] != 0 || st.TokenFetches[endpointStable] != 0 {
		t.Errorf("failed calls issued or counted tokens: %+v", st)
	}
}

func TestCgiBinTokenReplacesThePreviousTokenAfterFiveMinutesOfOverlap(t *testing.T) {
	s, clock := newTestServer(t, Config{})
	a := mustToken(t, legacyToken(t, s))
	r := legacyToken(t, s)
	b := mustToken(t, r)
	if a == b {
		t.Fatalf("cgi-bin/token returned the same token twice")
	}
	if got := expiresIn(t, r); got != 7200 {
		t.Errorf("expires_in = %d, want 7200", got)
	}

	tests := []struct {
		name  string
		after time.Duration
		tok   string
		want  int
	}{
		{"previous, at once", 0, a, 0},
		{"previous, within the overlap", 5*time.Minute - time.Second, a, 0},
		{"previous, after the overlap", 5 * time.Minute, a, errInvalidCredential},
		{"latest, after the overlap", 5 * time.Minute, b, 0},
	}
	start := clock.Now()
	for _, tt := range tests {
		clock.Advance(start.Add(tt.after).Sub(clock.Now()))
		if got := useToken(t, s, tt.tok); got != tt.want {
			t.Errorf("%s: errcode %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestCgiBinTokenAnswersCredentialErrors(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tests := []struct {
		query string
		want  int
	}{
		{"grant_type=client_credential&secret=" + testSecret, errAppIDMissing},
		{"grant_type=client_credential&appid=wx0000000000000000&secret=" + testSecret, errInvalidAppID},
		{"grant_type=client_credential&appid=" + testAppID, errAppSecretMissing},
		{"grant_type=client_credential&appid=" + testAppID + "&secret=nope", errInvalidAppSecret},
		{"appid=" + testAppID + "&secret=" + testSecret, errInvalidGrantType},
	}
	for _, tt := range tests {
		if got := do(t, s, http.MethodGet, PathToken+"?"+tt.query, nil).errcode(); got != tt.want {
			t.Errorf("?%s: errcode = %d, want %d", tt.query, got, tt.want)
		}
	}
}

func TestExpiredAccessTokenAnswers42001(t *testing.T) {
	for _, endpoint := range []string{endpointStable, endpointToken} {
		t.Run(endpoint, func(t *testing.T) {
			s, clock := newTestServer(t, Config{TokenTTL: time.Hour})
			var r reply
			if endpoint == endpointStable {
				r = stableToken(t, s, false)
			} else {
				r = legacyToken(t, s)
			}
			tok := mustToken(t, r)
			if got := expiresIn(t, r); got != 3600 {
				t.Errorf("expires_in = %d, want TokenTTL 3600", got)
			}
			clock.Advance(time.Hour - time.Second)
			if got := useToken(t, s, tok); got != 0 {
				t.Errorf("token one second before expiry answers %d", got)
			}
			clock.Advance(time.Second)
			if got := useToken(t, s, tok); got != errAccessTokenExpired {
				t.Errorf("expired token answers %d, want %d", got, errAccessTokenExpired)
			}
		})
	}
}

func TestAccessTokenProblemsAnswerTheirOwnErrcodes(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tests := []struct {
		name, tok string
		want      int
	}{
		{"missing", "", errAccessTokenMissing},
		{"not token-shaped", "not a token!", errInvalidAccessToken},
		{"never issued", "91_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", errInvalidCredential},
	}
	for _, tt := range tests {
		if got := useToken(t, s, tt.tok); got != tt.want {
			t.Errorf("%s token answers %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestInvalidateTokensKillsTokensOfBothEndpoints(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	stable := mustToken(t, stableToken(t, s, false))
	legacy := mustToken(t, legacyToken(t, s))
	s.InvalidateTokens()
	for _, tok := range []string{stable, legacy} {
		if got := useToken(t, s, tok); got != errInvalidCredential {
			t.Errorf("invalidated token answers %d, want %d", got, errInvalidCredential)
		}
	}
	next := mustToken(t, stableToken(t, s, false))
	if next == stable {
		t.Fatalf("stable_token after invalidation returned the dead token")
	}
	if got := useToken(t, s, next); got != 0 {
		t.Errorf("token issued after invalidation answers %d", got)
	}
}

func TestStatsCountTokenAnswersAndMintsPerEndpoint(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	for range 3 {
		stableToken(t, s, false)
	}
	legacyToken(t, s)
	legacyToken(t, s)
	do(t, s, http.MethodGet, PathToken+"?grant_type=client_credential&appid=x&secret=y", nil) // fails

	st := s.Stats()
	tests := []struct {
		name      string
		got, want int
	}{
		{"stable_token fetches", st.TokenFetches[endpointStable], 3},
		{"stable_token tokens issued", st.TokensIssued[endpointStable], 1},
		{"token fetches", st.TokenFetches[endpointToken], 2},
		{"token tokens issued", st.TokensIssued[endpointToken], 2},
		{"calls to cgi-bin/token, failed one included", st.Calls[PathToken], 3},
		{"calls to stable_token", st.Calls[PathStableToken], 3},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

func TestConcurrentStableTokenCallsShareOneToken(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	const n = 32
	body := `{"grant_type":"client_credential","appid":"` + testAppID + `","secret":"` + testSecret + `"}`
	tokens := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		// No t.Fatal off the test goroutine: each caller just records its token.
		wg.Go(func() {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, PathStableToken, strings.NewReader(body)))
			var r tokenResponse
			if json.Unmarshal(rec.Body.Bytes(), &r) == nil {
				tokens[i] = r.AccessToken
			}
		})
	}
	wg.Wait()
	for _, tok := range tokens {
		if tok == "" || tok != tokens[0] {
			t.Fatalf("concurrent callers got different tokens: %q vs %q", tok, tokens[0])
		}
	}
	if st := s.Stats(); st.TokensIssued[endpointStable] != 1 || st.TokenFetches[endpointStable] != n {
		t.Errorf("stats = %+v, want 1 issued and %d fetches", st, n)
	}
}
