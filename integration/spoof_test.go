package integration

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// forgedHeaders are identity headers in every spelling a client might try.
var forgedHeaders = []string{
	"X-OpenID: forged-openid",
	"x-openid: forged-openid",
	"X_OPENID: forged-openid",
	"x_openid: forged-openid",
	"X-Openid: forged-openid",
	"X-UnionID: forged-unionid",
	"x_unionid: forged-unionid",
	"X-Phone: 13000000000",
	"X_Phone: 13000000000",
	"x-phone-country-code: 1",
	"X_PHONE_COUNTRY_CODE: 1",
}

func TestAClientCannotChooseTheIdentityUpstreamSees(t *testing.T) {
	w := newWorld(t, "")
	tok := w.login(t, "alice")
	cases := []struct {
		name, path, auth string
		wantOpenID       string
	}{
		{"a protected path with a valid token", "/api/me", "Authorization: Bearer " + tok + "\r\n", w.mock.OpenID("alice")},
		{"a public path without a token", "/public/x", "", ""},
		{"a public path with a valid token", "/public/x", "Authorization: Bearer " + tok + "\r\n", w.mock.OpenID("alice")},
	}
	for _, tc := range cases {
		for _, h := range forgedHeaders {
			t.Run(tc.name+"/"+h, func(t *testing.T) {
				before := len(w.upstream.requests())
				r := raw(t, w.caddy.URL, "GET "+tc.path+" HTTP/1.1\r\nHost: 127.0.0.1\r\n"+tc.auth+h+"\r\nConnection: close\r\n\r\n")
				if r.Status != http.StatusOK {
					t.Fatalf("status %d: %s", r.Status, r.Body)
				}
				if len(w.upstream.requests()) != before+1 {
					t.Fatal("upstream did not get the request")
				}
				assertNoForgery(t, w.upstream.last(t), tc.wantOpenID)
			})
		}
	}
}

// assertNoForgery checks that no header upstream received carries a forged
// value, under any spelling, and that X-OpenID is exactly want.
func assertNoForgery(t *testing.T, got http.Header, wantOpenID string) {
	t.Helper()
	for name, values := range got {
		for _, v := range values {
			if strings.Contains(v, "forged") || v == "13000000000" || (strings.Contains(strings.ToLower(name), "country") && v == "1") {
				t.Fatalf("upstream received forged %s: %s", name, v)
			}
		}
	}
	if v := got.Values("X-OpenID"); wantOpenID == "" && len(v) != 0 || wantOpenID != "" && (len(v) != 1 || v[0] != wantOpenID) {
		t.Fatalf("upstream X-OpenID = %q, want %q", v, wantOpenID)
	}
}

func TestAClientCannotHideTheInjectedIdentityThroughConnection(t *testing.T) {
	w := newWorld(t, "")
	tok := w.login(t, "alice")
	for _, conn := range []string{"X-OpenID", "x_openid, keep-alive", "close, X-Phone, X-OPENID"} {
		r := raw(t, w.caddy.URL, "GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+tok+"\r\nConnection: "+conn+"\r\n\r\n")
		if r.Status != http.StatusOK {
			t.Fatalf("Connection %q: status %d", conn, r.Status)
		}
		if got := w.upstream.last(t).Get("X-OpenID"); got != w.mock.OpenID("alice") {
			t.Fatalf("Connection %q: upstream X-OpenID = %q", conn, got)
		}
	}
}

func TestForgedTamperedTruncatedAndAlgNoneTokensAreRefused(t *testing.T) {
	w := newWorld(t, "")
	tok := w.login(t, "alice")
	parts := strings.Split(tok, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	bob := strings.Replace(string(payload), w.mock.OpenID("alice"), w.mock.OpenID("bob"), 1)
	cases := map[string]string{
		"truncated":             tok[:len(tok)-10],
		"without signature":     parts[0] + "." + parts[1] + ".",
		"payload for bob":       parts[0] + "." + b64([]byte(bob)) + "." + parts[2],
		"alg none":              b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".",
		"alg none for bob":      b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64([]byte(bob)) + ".",
		"signature bit flipped": parts[0] + "." + parts[1] + "." + flip(parts[2]),
		"two tokens":            tok + "." + tok,
	}
	for name, forged := range cases {
		t.Run(name, func(t *testing.T) {
			wantError(t, do(t, "GET", w.caddy.URL+"/api/me", forged, ""), 401, "unauthorized")
		})
	}
	for _, h := range w.upstream.requests() {
		t.Fatalf("upstream was contacted with %v", h)
	}
	// The genuine token still works after all that.
	if r := do(t, "GET", w.caddy.URL+"/api/me", tok, ""); r.Status != 200 {
		t.Fatalf("genuine token: %d", r.Status)
	}
}

func flip(sig string) string {
	b := []byte(sig)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

func TestNoSecretAppearsInAnyResponseOrLogLine(t *testing.T) {
	w := newWorld(t, "")
	var bodies []string
	var sessionKeys, tokens []string
	for i := 0; i < 3; i++ {
		user := fmt.Sprintf("user%d", i)
		r := do(t, "POST", w.caddy.URL+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, w.mock.Code(user)))
		bodies = append(bodies, string(r.Body))
		sessionKeys = append(sessionKeys, w.mock.SessionKey(user))
		tok, _ := r.JSON(t)["token"].(string)
		tokens = append(tokens, tok)
		bodies = append(bodies, string(do(t, "GET", w.caddy.URL+"/api/me", tok, "").Body))
		bodies = append(bodies, string(do(t, "POST", w.caddy.URL+"/wx/logout", tok, "").Body))
		bodies = append(bodies, string(do(t, "GET", w.caddy.URL+"/api/me", tok, "").Body))
	}
	// Failures are logged too: make WeChat fail in every way.
	for _, code := range []int{-1, 40029, 45011, 40226, 40013} {
		w.mock.Fail("/sns/jscode2session", code, 3)
		bodies = append(bodies, string(do(t, "POST", w.caddy.URL+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, w.mock.Code("zed"))).Body))
	}
	w.mock.Fail("/sns/jscode2session", 0, 0)
	logs := w.caddy.logSoFar(t)
	if !strings.Contains(logs, `"level":"debug"`) {
		t.Fatalf("expected debug logs to be captured, got:\n%s", logs)
	}
	for _, tok := range tokens {
		if strings.Contains(logs, tok) || strings.Contains(logs, strings.Split(tok, ".")[2]) {
			t.Errorf("a token appears in the logs")
		}
	}
	secrets := append([]string{testSecret}, sessionKeys...)
	for _, s := range secrets {
		if s == "" {
			t.Fatal("wxmock returned an empty session_key")
		}
		if strings.Contains(logs, s) {
			t.Errorf("a secret appears in the logs: %.6s…", s)
		}
		for _, b := range bodies {
			if strings.Contains(b, s) {
				t.Errorf("a secret appears in a response: %.6s…", s)
			}
		}
	}
}
