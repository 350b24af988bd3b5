package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/wxauth/caddy-wxauth/wxmock"
)

const (
	h5AppID, siteAppID, h5MiniAppID = "wxc3000000000000cc", "wxd4000000000000dd", "wxe5000000000000ee"
)

// h5Rig is a handler serving a mini program, an official account and a
// website, against an in-process fake WeChat that plays both the APIs and
// the authorize pages.
type h5Rig struct {
	h    *Handler
	mock *wxmock.Server
	wx   string // the fake's base URL
}

func newH5Rig(t testing.TB, configure func(*Handler)) *h5Rig {
	t.Helper()
	mock := wxmock.New(wxmock.Config{UnionID: true, Apps: []wxmock.App{
		{AppID: h5AppID, AppSecret: "h5-secret"}, {AppID: siteAppID, AppSecret: "site-secret"}, {AppID: h5MiniAppID, AppSecret: "mini-secret"},
	}})
	srv := httptest.NewServer(mock)
	t.Cleanup(srv.Close)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	app := &App{Settings: Settings{APIBase: srv.URL}, OAuthBase: srv.URL, Accounts: []AccountConfig{
		{Kind: kindOfficialAccount, Name: "oa", AppID: h5AppID, AppSecret: "h5-secret"},
		{Kind: kindWebsite, Name: "site", AppID: siteAppID, AppSecret: "site-secret"},
		{Kind: kindMiniProgram, Name: "mini", AppID: h5MiniAppID, AppSecret: "mini-secret"},
	}}
	if err := app.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Cleanup() })
	h := &Handler{app: app}
	if configure != nil {
		configure(h)
	}
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	h.logger = zap.NewNop()
	return &h5Rig{h: h, mock: mock, wx: srv.URL}
}

// get sends a GET to the handler from h5.example with the cookies given.
func (x *h5Rig) get(t testing.TB, target, userAgent string, cookies ...*http.Cookie) (*httptest.ResponseRecorder, *http.Request) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "https://h5.example"+target, nil)
	r.Header.Set("User-Agent", userAgent)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	rec, forwarded, err := serveForwarded(x.h, r)
	if err != nil {
		t.Fatal(err)
	}
	return rec, forwarded
}

// authorize follows the handler's redirect to the fake's authorize page
// and returns where that page sends the browser back to.
func (x *h5Rig) authorize(t testing.TB, location string) *url.URL {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(location)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("the authorize page answered %d (%s): %s", resp.StatusCode, resp.Header.Get("X-Wxmock-Errcode"), location)
	}
	return back
}

// start begins a web login and returns the redirect to WeChat and the
// state cookie.
func (x *h5Rig) start(t testing.TB, target, userAgent string) (string, *http.Cookie) {
	t.Helper()
	rec, _ := x.get(t, target, userAgent)
	if rec.Code != http.StatusFound {
		t.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
	}
	return rec.Header().Get("Location"), cookieNamed(t, rec, "__Host-wxauth_state")
}

func cookieNamed(t testing.TB, rec *httptest.ResponseRecorder, name string) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie set; Set-Cookie: %q", name, rec.Header().Values("Set-Cookie"))
	return nil
}

func errorOf(rec *httptest.ResponseRecorder) string {
	var body errorBody
	json.Unmarshal(rec.Body.Bytes(), &body)
	return body.Error
}

func TestAnH5LoginGoesThroughWeChatAndComesBackLoggedInWithACookie(t *testing.T) {
	const inWeChat = "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50"
	tests := []struct {
		name, userAgent, appID, page, scope string
	}{
		{"an official account's page inside WeChat", inWeChat, h5AppID, "/connect/oauth2/authorize", "snsapi_base"},
		{"a website elsewhere", "Mozilla/5.0 (X11; Linux x86_64) Chrome/156", siteAppID, "/connect/qrconnect", "snsapi_login"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := newH5Rig(t, nil)
			location, state := x.start(t, "/wx/oauth?return_to=%2Forders%3Fid%3D7", tc.userAgent)
			to, _ := url.Parse(location)
			q := to.Query()
			if !strings.HasPrefix(location, x.wx+tc.page+"?") || to.Fragment != "wechat_redirect" || q.Get("appid") != tc.appID ||
				q.Get("scope") != tc.scope || q.Get("response_type") != "code" || q.Get("redirect_uri") != "https://h5.example/wx/oauth/callback" {
				t.Fatalf("sent to %s", location)
			}
			if !state.HttpOnly || !state.Secure || state.SameSite != http.SameSiteLaxMode || state.MaxAge <= 0 || state.MaxAge > 600 || state.Path != "/" {
				t.Errorf("state cookie %s: want HttpOnly, Secure, SameSite=Lax, Path=/ (as __Host- requires), at most 10 minutes", state)
			}

			openid := x.mock.App(tc.appID).NextOAuthUser("bob")
			back := x.authorize(t, location)
			rec, _ := x.get(t, back.RequestURI(), tc.userAgent, state)
			if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/orders?id=7#" {
				t.Fatalf("callback: %d, Location %q, %s", rec.Code, rec.Header().Get("Location"), rec.Body)
			}
			login := cookieNamed(t, rec, "wxauth")
			if !login.HttpOnly || !login.Secure || login.SameSite != http.SameSiteLaxMode || login.Path != "/" || login.MaxAge != 7200 {
				t.Errorf("login cookie %s: want Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=7200", login)
			}
			if cleared := cookieNamed(t, rec, "__Host-wxauth_state"); cleared.MaxAge >= 0 {
				t.Errorf("the state cookie is not cleared: %s", cleared)
			}

			rec, forwarded := x.get(t, "/api/me", tc.userAgent, login)
			if forwarded == nil {
				t.Fatalf("the cookie did not authenticate: %d %s", rec.Code, rec.Body)
			}
			if !strings.Contains(rec.Header().Get("Vary"), "Cookie") {
				t.Errorf("Vary = %q: a shared cache could serve this user's answer to another", rec.Header().Get("Vary"))
			}
			if got := forwarded.Header.Get("X-OpenID"); got != openid {
				t.Errorf("X-OpenID = %q, want %q", got, openid)
			}
			if forwarded.Header.Get("X-AppID") != tc.appID {
				t.Errorf("X-AppID = %q, want %s", forwarded.Header.Get("X-AppID"), tc.appID)
			}
			// snsapi_base tells no unionid; snsapi_login does.
			if hasUnion := forwarded.Header.Get("X-UnionID") != ""; hasUnion != (tc.scope == "snsapi_login") {
				t.Errorf("X-UnionID = %q with %s", forwarded.Header.Get("X-UnionID"), tc.scope)
			}
		})
	}
}

func TestOAuthScopeUserInfoBringsTheUnionID(t *testing.T) {
	x := newH5Rig(t, func(h *Handler) { h.OAuthScope = "snsapi_userinfo" })
	location, state := x.start(t, "/wx/oauth?appid="+h5AppID, "")
	if !strings.Contains(location, "scope=snsapi_userinfo") {
		t.Fatalf("sent to %s", location)
	}
	rec, _ := x.get(t, x.authorize(t, location).RequestURI(), "", state)
	_, forwarded := x.get(t, "/", "", cookieNamed(t, rec, "wxauth"))
	if forwarded == nil || forwarded.Header.Get("X-UnionID") == "" {
		t.Fatalf("no unionid upstream after snsapi_userinfo")
	}
}

func TestAnH5LoginIsRefused(t *testing.T) {
	x := newH5Rig(t, nil)
	startOA := func() (string, *http.Cookie) { return x.start(t, "/wx/oauth?appid="+h5AppID, "") }
	callback := func(back *url.URL, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		rec, _ := x.get(t, back.RequestURI(), "", cookies...)
		return rec
	}
	tests := []struct {
		name   string
		answer func() *httptest.ResponseRecorder
		status int
		code   string
	}{
		{"return_to on another host", func() *httptest.ResponseRecorder {
			rec, _ := x.get(t, "/wx/oauth?return_to=%2F%2Fevil.example", "")
			return rec
		}, 400, "invalid_request"},
		{"return_to with a scheme", func() *httptest.ResponseRecorder {
			rec, _ := x.get(t, "/wx/oauth?return_to=https%3A%2F%2Fevil.example%2F", "")
			return rec
		}, 400, "invalid_request"},
		{"return_to /\\host", func() *httptest.ResponseRecorder {
			rec, _ := x.get(t, "/wx/oauth?return_to=%2F%5Cevil.example", "")
			return rec
		}, 400, "invalid_request"},
		{"return_to given twice", func() *httptest.ResponseRecorder {
			rec, _ := x.get(t, "/wx/oauth?return_to=%2Fa&return_to=%2F%2Fevil.example", "")
			return rec
		}, 400, "invalid_request"},
		{"an appid that is a mini program", func() *httptest.ResponseRecorder {
			rec, _ := x.get(t, "/wx/oauth?appid="+h5MiniAppID, "")
			return rec
		}, 400, "invalid_request"},
		{"a callback without the state cookie", func() *httptest.ResponseRecorder {
			location, _ := startOA()
			return callback(x.authorize(t, location))
		}, 400, "invalid_request"},
		{"a callback with another login's state", func() *httptest.ResponseRecorder {
			_, mine := startOA()
			theirs, _ := startOA() // an attacker's own login, sent to the victim
			return callback(x.authorize(t, theirs), mine)
		}, 400, "invalid_request"},
		{"a callback without a state", func() *httptest.ResponseRecorder {
			location, cookie := startOA()
			back := x.authorize(t, location)
			q := back.Query()
			q.Del("state")
			back.RawQuery = q.Encode()
			return callback(back, cookie)
		}, 400, "invalid_request"},
		{"a callback used twice", func() *httptest.ResponseRecorder {
			location, cookie := startOA()
			back := x.authorize(t, location)
			if rec := callback(back, cookie); rec.Code != http.StatusFound {
				t.Fatalf("first callback: %d %s", rec.Code, rec.Body)
			}
			return callback(back, cookie)
		}, 400, "invalid_request"},
		{"a snapshot-page visitor", func() *httptest.ResponseRecorder {
			location, cookie := startOA()
			x.mock.App(h5AppID).NextOAuthSnapshot("carol")
			return callback(x.authorize(t, location), cookie)
		}, 403, "snapshot_user"},
		{"a code WeChat does not know", func() *httptest.ResponseRecorder {
			location, cookie := startOA()
			back := x.authorize(t, location)
			q := back.Query()
			q.Set("code", "061made0up0code0000000000000000")
			back.RawQuery = q.Encode()
			return callback(back, cookie)
		}, 401, "invalid_code"},
		{"no code: the user declined", func() *httptest.ResponseRecorder {
			location, cookie := startOA()
			back := x.authorize(t, location)
			q := back.Query()
			q.Del("code")
			back.RawQuery = q.Encode()
			return callback(back, cookie)
		}, 400, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.answer()
			if rec.Code != tc.status || errorOf(rec) != tc.code {
				t.Fatalf("got %d %s, want %d %s", rec.Code, rec.Body, tc.status, tc.code)
			}
			for _, c := range rec.Result().Cookies() {
				if c.Name == "wxauth" && c.MaxAge >= 0 {
					t.Fatalf("a refused login set a login cookie: %s", c)
				}
			}
		})
	}
}

// loggedIn is the login cookie of a user who went through the official
// account's H5 login.
func (x *h5Rig) loggedIn(t testing.TB) *http.Cookie {
	t.Helper()
	location, state := x.start(t, "/wx/oauth?appid="+h5AppID, "")
	rec, _ := x.get(t, x.authorize(t, location).RequestURI(), "", state)
	return cookieNamed(t, rec, "wxauth")
}

func TestACookieAuthenticatedChangeMustComeFromThisSite(t *testing.T) {
	x := newH5Rig(t, nil)
	login := x.loggedIn(t)
	const api = "https://h5.example/api/orders"
	tests := []struct {
		name, method, target, origin, referer string
		websocket, bearer, passes             bool
	}{
		{"a GET from anywhere", http.MethodGet, api, "https://evil.example", "", false, false, true},
		{"a POST from this site", http.MethodPost, api, "https://h5.example", "", false, false, true},
		{"a POST from this site, port given", http.MethodPost, api, "https://h5.example:443", "", false, false, true},
		{"a POST with only a Referer of this site", http.MethodPost, api, "", "https://h5.example/page", false, false, true},
		{"a POST to localhost over plain http", http.MethodPost, "http://localhost:8080/api", "http://localhost:8080", "", false, false, true},
		{"a POST to 127.0.0.1 over plain http", http.MethodPost, "http://127.0.0.1:8080/api", "http://127.0.0.1:8080", "", false, false, true},
		{"a WebSocket handshake from this site", http.MethodGet, api, "https://h5.example", "", true, false, true},
		{"a POST from another site", http.MethodPost, api, "https://evil.example", "", false, false, false},
		{"a POST from this host's plain-http page", http.MethodPost, api, "http://h5.example", "", false, false, false},
		{"a POST from a plain-http page where Caddy sees plain http (TLS ends before it)", http.MethodPost, "http://h5.example/api/orders", "http://h5.example", "", false, false, false},
		{"a POST from this host's https page on port 80", http.MethodPost, api, "https://h5.example:80", "", false, false, false},
		{"a POST from a sibling subdomain", http.MethodPost, api, "https://evil.h5.example", "", false, false, false},
		{"a POST from another port", http.MethodPost, api, "https://h5.example:8443", "", false, false, false},
		{"a POST from an opaque origin", http.MethodPost, api, "null", "https://h5.example/", false, false, false},
		{"a DELETE without Origin or Referer", http.MethodDelete, api, "", "", false, false, false},
		{"a POST with a Referer of another site", http.MethodPost, api, "", "https://evil.example/h5.example", false, false, false},
		{"a WebSocket handshake from a sibling subdomain", http.MethodGet, api, "https://evil.h5.example", "", true, false, false},
		{"a Bearer POST from another site", http.MethodPost, api, "https://evil.example", "", false, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, nil)
			if tc.bearer {
				r.Header.Set("Authorization", "Bearer "+login.Value)
			} else {
				r.AddCookie(login)
			}
			if tc.websocket {
				r.Header.Set("Connection", "Upgrade")
				r.Header.Set("Upgrade", "websocket")
			}
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.referer != "" {
				r.Header.Set("Referer", tc.referer)
			}
			rec, forwarded, err := serveForwarded(x.h, r)
			if err != nil {
				t.Fatal(err)
			}
			if (forwarded != nil) != tc.passes {
				t.Fatalf("passed: %v, want %v (%d %s)", forwarded != nil, tc.passes, rec.Code, rec.Body)
			}
			if !tc.passes && (rec.Code != http.StatusForbidden || errorOf(rec) != "csrf_failed") {
				t.Fatalf("got %d %s, want 403 csrf_failed", rec.Code, rec.Body)
			}
		})
	}
}

func TestSameOriginIsTheHostTheBrowserAddressedBehindATrustedProxy(t *testing.T) {
	tests := []struct {
		name    string
		trusted bool
		want    bool
	}{
		{"a trusted proxy's X-Forwarded-Host", true, true},
		{"anyone else's", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// nginx's default: Host is the upstream's name, the browser's in X-Forwarded-Host.
			r := httptest.NewRequest(http.MethodPost, "http://backend:8080/api", nil)
			r.Header.Set("X-Forwarded-Proto", "https")
			r.Header.Set("X-Forwarded-Host", "h5.example")
			r.Header.Set("Origin", "https://h5.example")
			r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.TrustedProxyVarKey: tc.trusted}))
			if got := sameOrigin(r); got != tc.want {
				t.Errorf("sameOrigin = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLogoutWithTheCookieRevokesTheTokenAndClearsTheCookie(t *testing.T) {
	x := newH5Rig(t, nil)
	login := x.loggedIn(t)
	logout := func(origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "https://h5.example/wx/logout", nil)
		r.AddCookie(login)
		r.Header.Set("Origin", origin)
		rec, _, err := serveForwarded(x.h, r)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	// Another site's form neither logs the user out nor clears their cookie,
	// not even beside a cookie a sibling subdomain planted (clearing ours
	// would leave the user logged in as whoever planted it).
	if rec := logout("https://evil.example"); rec.Code != http.StatusForbidden || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("a cross-site logout: %d, Set-Cookie %q", rec.Code, rec.Header().Values("Set-Cookie"))
	}
	planted := httptest.NewRequest(http.MethodPost, "https://h5.example/wx/logout", nil)
	planted.AddCookie(login)
	planted.AddCookie(&http.Cookie{Name: "wxauth", Value: "the-attackers-token"})
	planted.Header.Set("Origin", "https://evil.h5.example")
	if rec, _, _ := serveForwarded(x.h, planted); len(rec.Result().Cookies()) != 0 {
		t.Fatalf("a sibling's logout beside a planted cookie: %d, Set-Cookie %q", rec.Code, rec.Header().Values("Set-Cookie"))
	}
	rec := logout("https://h5.example")
	if rec.Code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", rec.Code, rec.Body)
	}
	if cleared := cookieNamed(t, rec, "wxauth"); cleared.MaxAge >= 0 || cleared.Value != "" {
		t.Errorf("the cookie is not cleared: %s", cleared)
	}
	if !strings.Contains(rec.Header().Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("Set-Cookie %q lacks Max-Age=0", rec.Header().Get("Set-Cookie"))
	}
	if rec, forwarded := x.get(t, "/api/me", "", login); forwarded != nil || rec.Code != http.StatusUnauthorized {
		t.Fatalf("the logged-out cookie still passes: %d", rec.Code)
	}
}

func TestLoginRedirectSendsPageLoadsToLoginAndAPICallsA401(t *testing.T) {
	x := newH5Rig(t, func(h *Handler) { h.LoginRedirect = true })
	tests := []struct {
		name, method, accept, cookie string
		status                       int
		location                     string
	}{
		{"a page load", http.MethodGet, "text/html,application/xhtml+xml,*/*;q=0.8", "", 302, "/wx/oauth?return_to=%2Forders%3Fid%3D7"},
		{"a HEAD of a page", http.MethodHead, "text/html", "", 302, "/wx/oauth?return_to=%2Forders%3Fid%3D7"},
		{"an API call", http.MethodGet, "application/json", "", 401, ""},
		{"a POST of a form", http.MethodPost, "text/html", "", 401, ""},
		// A login would not end the 401 that the planted cookie causes: no loop.
		{"a page load with two login cookies", http.MethodGet, "text/html", "wxauth=a; wxauth=b", 401, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "https://h5.example/orders?id=7", nil)
			r.Header.Set("Accept", tc.accept)
			if tc.cookie != "" {
				r.Header.Set("Cookie", tc.cookie)
			}
			rec, _, err := serveForwarded(x.h, r)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.status || rec.Header().Get("Location") != tc.location {
				t.Fatalf("got %d Location %q, want %d %q", rec.Code, rec.Header().Get("Location"), tc.status, tc.location)
			}
		})
	}
}

func TestAnH5TokenBindsNoPhone(t *testing.T) {
	x := newH5Rig(t, nil)
	r := httptest.NewRequest(http.MethodPost, "https://h5.example/wx/phone", strings.NewReader(`{"code":"x"}`))
	r.AddCookie(x.loggedIn(t))
	r.Header.Set("Origin", "https://h5.example")
	rec, _, err := serveForwarded(x.h, r)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusBadRequest || errorOf(rec) != "invalid_request" {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
}

func TestTheRedirectURIIsTheBrowsersViewOfThisSite(t *testing.T) {
	tests := []struct {
		name       string
		target     string
		trusted    bool
		forwarded  map[string]string
		redirectTo string // oauth_redirect_url
		want       string
	}{
		{"https as Caddy sees it", "https://h5.example/wx/oauth", false, nil, "", "https://h5.example/wx/oauth/callback"},
		{"plain http with a port", "http://localhost:8080/wx/oauth", false, nil, "", "http://localhost:8080/wx/oauth/callback"},
		{"behind a trusted TLS proxy", "http://h5.example/wx/oauth", true,
			map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "www.h5.example"}, "", "https://www.h5.example/wx/oauth/callback"},
		{"forwarding headers from an untrusted client", "http://h5.example/wx/oauth", false,
			map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}, "", "http://h5.example/wx/oauth/callback"},
		{"a trusted proxy's malformed host", "http://h5.example/wx/oauth", true,
			map[string]string{"X-Forwarded-Host": "evil.example/x?"}, "", "http://h5.example/wx/oauth/callback"},
		{"oauth_redirect_url wins", "http://10.0.0.5/wx/oauth", true,
			map[string]string{"X-Forwarded-Host": "other.example"}, "https://h5.example/auth/wx/callback", "https://h5.example/auth/wx/callback"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{OAuthCallbackPath: "/wx/oauth/callback", OAuthRedirectURL: tc.redirectTo}
			r := httptest.NewRequest(http.MethodGet, tc.target, nil)
			if !strings.HasPrefix(tc.target, "https") {
				r.TLS = nil
			}
			for k, v := range tc.forwarded {
				r.Header.Set(k, v)
			}
			ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.TrustedProxyVarKey: tc.trusted})
			if got := h.redirectURI(r.WithContext(ctx)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestH5SettingsNeedAnOfficialAccountOrWebsite(t *testing.T) {
	app, _, ctx := twoMiniPrograms(t)
	h := &Handler{app: app, LoginRedirect: true}
	if err := h.Provision(ctx); err == nil || !strings.Contains(err.Error(), "official_account or website") {
		t.Fatalf("login_redirect on mini programs only: %v", err)
	}
}

func TestAMadeUpStateCostsNoRateLimitCount(t *testing.T) {
	x := newH5Rig(t, func(h *Handler) { h.LoginRateLimit = &RateLimit{Requests: 1, Window: caddy.Duration(time.Minute)} })
	forged := &http.Cookie{Name: "__Host-wxauth_state", Value: "v1." + h5AppID + ".0123456789abcdef0123456789abcdef.9999999999.Lw.bm90LWEtbWFj"}
	for i := range 3 {
		rec, _ := x.get(t, "/wx/oauth/callback?code=c&state=0123456789abcdef0123456789abcdef", "", forged)
		if rec.Code != http.StatusBadRequest || errorOf(rec) != "invalid_request" {
			t.Fatalf("forged callback %d: %d %s, want 400 invalid_request", i, rec.Code, rec.Body)
		}
	}
	// The one login the limit allows is still there for the real user.
	x.loggedIn(t)
}

func TestLogoutOnASiteWithoutH5LeavesACookieOfTheSameNameAlone(t *testing.T) {
	app, _, ctx := twoMiniPrograms(t)
	h := handlerOf(t, app, ctx)
	r := httptest.NewRequest(http.MethodPost, "https://mini.example/wx/logout", nil)
	r.AddCookie(&http.Cookie{Name: "wxauth", Value: "the-upstreams-own"})
	r.Header.Set("Origin", "https://mini.example")
	rec, _, err := serveForwarded(h, r)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusUnauthorized || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("got %d, Set-Cookie %q: want 401 and the cookie left alone", rec.Code, rec.Header().Values("Set-Cookie"))
	}
}
