package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestALoggedInUsersRequestReachesUpstreamWithTheirOpenID(t *testing.T) {
	w := newWorld(t, "")
	r := do(t, "POST", w.caddy.URL+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, w.mock.Code("alice")))
	if r.Status != http.StatusOK {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	body := r.JSON(t)
	if body["token_type"] != "Bearer" || body["openid"] != w.mock.OpenID("alice") || body["has_phone"] != false {
		t.Fatalf("login body = %s", r.Body)
	}
	if exp, _ := body["expires_in"].(float64); exp != 7200 {
		t.Fatalf("expires_in = %v, want 7200 (token_ttl default 2h)", body["expires_in"])
	}

	r = do(t, "GET", w.caddy.URL+"/api/orders", body["token"].(string), "")
	if r.Status != http.StatusOK {
		t.Fatalf("protected request: %d %s", r.Status, r.Body)
	}
	if got := w.upstream.last(t).Get("X-OpenID"); got != w.mock.OpenID("alice") {
		t.Fatalf("upstream saw X-OpenID %q, want %q", got, w.mock.OpenID("alice"))
	}
}

func TestARequestWithoutAValidTokenIsRefusedAndNeverReachesUpstream(t *testing.T) {
	w := newWorld(t, "")
	for _, auth := range []string{"", "Bearer", "Bearer ", "Basic YWxpY2U6c2VjcmV0", "Bearer not-a-jwt"} {
		req, _ := http.NewRequest("GET", w.caddy.URL+"/api/orders", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, resp.StatusCode)
		}
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q: WWW-Authenticate = %q", auth, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if n := len(w.upstream.requests()); n != 0 {
		t.Fatalf("upstream was contacted %d times", n)
	}
}

func TestLoginAnswersEveryWeChatFailureWithTheSpecError(t *testing.T) {
	w := newWorld(t, "")
	used := w.mock.Code("bob")
	w.login(t, "bob") // consumes another code, proves bob works
	if r := do(t, "POST", w.caddy.URL+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, used)); r.Status != http.StatusOK {
		t.Fatalf("first use of a code: %d %s", r.Status, r.Body)
	}

	tests := []struct {
		name   string
		method string
		body   func() string
		status int
		code   string
	}{
		{"an unknown code", "POST", func() string { return `{"code":"no-such-code"}` }, 401, "invalid_code"},
		{"a reused code", "POST", func() string { return fmt.Sprintf(`{"code":%q}`, used) }, 401, "invalid_code"},
		{"WeChat's frequency limit", "POST", func() string { return w.codeFailing("carol", 45011) }, 429, "rate_limited"},
		{"a user WeChat blocked", "POST", func() string { return w.codeFailing("dave", 40226) }, 403, "user_blocked"},
		{"WeChat busy on every retry", "POST", func() string {
			w.mock.Fail("/sns/jscode2session", -1, 10)
			return fmt.Sprintf(`{"code":%q}`, w.mock.Code("erin"))
		}, 502, "upstream_error"},
		{"malformed JSON", "POST", func() string { return `{"code":` }, 400, "invalid_request"},
		{"a JSON array", "POST", func() string { return `["code"]` }, 400, "invalid_request"},
		{"no code", "POST", func() string { return `{}` }, 400, "invalid_request"},
		{"two objects", "POST", func() string { return `{"code":"a"}{"code":"b"}` }, 400, "invalid_request"},
		{"a body over 64 KiB", "POST", func() string { return `{"code":"` + strings.Repeat("a", 70<<10) + `"}` }, 400, "invalid_request"},
		{"GET", "GET", func() string { return "" }, 405, "method_not_allowed"},
		{"PUT", "PUT", func() string { return `{"code":"x"}` }, 405, "method_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w.mock.Fail("/sns/jscode2session", 0, 0)
			wantError(t, do(t, tc.method, w.caddy.URL+"/wx/login", "", tc.body()), tc.status, tc.code)
		})
	}
}

// codeFailing mints a code for user that WeChat will answer with errcode.
func (w *world) codeFailing(user string, errcode int) string {
	w.mock.Fail("/sns/jscode2session", errcode, 1)
	return fmt.Sprintf(`{"code":%q}`, w.mock.Code(user))
}

func TestLoginSucceedsWhenWeChatIsBusyOnlyOnce(t *testing.T) {
	w := newWorld(t, "")
	w.mock.Fail("/sns/jscode2session", -1, 1)
	w.login(t, "frank")
}

func TestALoggedOutTokenIsRefused(t *testing.T) {
	w := newWorld(t, "")
	tok := w.login(t, "alice")
	if r := do(t, "GET", w.caddy.URL+"/api/me", tok, ""); r.Status != http.StatusOK {
		t.Fatalf("before logout: %d %s", r.Status, r.Body)
	}
	if r := do(t, "POST", w.caddy.URL+"/wx/logout", tok, ""); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	wantError(t, do(t, "GET", w.caddy.URL+"/api/me", tok, ""), 401, "unauthorized")
	wantError(t, do(t, "POST", w.caddy.URL+"/wx/logout", tok, ""), 401, "unauthorized")
	wantError(t, do(t, "GET", w.caddy.URL+"/wx/logout", tok, ""), 405, "method_not_allowed")
}

func TestPublicPathsPassWithoutATokenAndWithoutIdentity(t *testing.T) {
	w := newWorld(t, "")
	if r := do(t, "GET", w.caddy.URL+"/public/banner", "", ""); r.Status != http.StatusOK {
		t.Fatalf("public path: %d %s", r.Status, r.Body)
	}
	if got := w.upstream.last(t).Get("X-OpenID"); got != "" {
		t.Fatalf("public request carried X-OpenID %q", got)
	}
	if r := do(t, "GET", w.caddy.URL+"/public/banner", "forged.token.here", ""); r.Status != http.StatusOK {
		t.Fatalf("public path with a bad token: %d %s", r.Status, r.Body)
	}
	if got := w.upstream.last(t).Get("X-OpenID"); got != "" {
		t.Fatalf("public request with a bad token carried X-OpenID %q", got)
	}
	tok := w.login(t, "alice")
	do(t, "GET", w.caddy.URL+"/public/banner", tok, "")
	if got := w.upstream.last(t).Get("X-OpenID"); got != w.mock.OpenID("alice") {
		t.Fatalf("public request with a valid token: X-OpenID %q, want alice's", got)
	}
}

func TestTheJWKSServesPublicKeysOnly(t *testing.T) {
	w := newWorld(t, "")
	r := do(t, "GET", w.caddy.URL+"/wx/.well-known/jwks.json", "", "")
	if r.Status != http.StatusOK {
		t.Fatalf("jwks: %d %s", r.Status, r.Body)
	}
	keys, _ := r.JSON(t)["keys"].([]any)
	if len(keys) == 0 {
		t.Fatalf("jwks has no keys: %s", r.Body)
	}
	for _, k := range keys {
		if _, private := k.(map[string]any)["d"]; private {
			t.Fatalf("jwks leaks a private key: %s", r.Body)
		}
	}
}
