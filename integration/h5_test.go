package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/proctest"
	"github.com/wxauth/caddy-wxauth/internal/redistest"
	"github.com/wxauth/caddy-wxauth/wxmock"
)

const (
	oaAppID, oaSecret     = "wxc33333333333333c", "official-account-secret-0123"
	siteAppID, siteSecret = "wxd44444444444444d", "website-app-secret-0123456"
)

// h5Company is a fake WeChat serving an official account and a website, a
// recording upstream, and a Caddy with two sites: `direct`, reached as is,
// with login_redirect; and `proxied`, whose peer (127.0.0.1) Caddy trusts
// as a TLS-terminating proxy.
type h5Company struct {
	mock            *wxmock.Server
	wechat          string
	upstream        *upstream
	global          string // more settings of the global wxauth block
	direct, proxied string // the first instance's sites
	admin           string // and its admin endpoint
}

func newH5Company(t *testing.T, global string) *h5Company {
	t.Helper()
	c := &h5Company{global: global, mock: wxmock.New(wxmock.Config{UnionID: true, Apps: []wxmock.App{
		{AppID: oaAppID, AppSecret: oaSecret}, {AppID: siteAppID, AppSecret: siteSecret},
	}})}
	wechat := httptest.NewServer(c.mock)
	t.Cleanup(wechat.Close)
	c.wechat = wechat.URL
	c.upstream = newUpstream(t)
	t.Setenv("OA_SECRET", oaSecret)
	t.Setenv("SITE_SECRET", siteSecret)
	c.direct, c.proxied, c.admin = c.startInstance(t)
	return c
}

// startInstance starts one more Caddy with the company's config and
// returns its two sites' URLs and its admin endpoint's.
func (c *h5Company) startInstance(t *testing.T) (direct, proxied, admin string) {
	t.Helper()
	directPort, proxiedPort, adminPort := proctest.FreePort(t), proctest.FreePort(t), proctest.FreePort(t)
	direct, proxied = fmt.Sprintf("http://127.0.0.1:%d", directPort), fmt.Sprintf("http://127.0.0.1:%d", proxiedPort)
	backend := strings.TrimPrefix(c.upstream.URL, "http://")
	caddyfile := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	persist_config off
	storage file_system %s
	servers :%d {
		trusted_proxies static 127.0.0.1/32
	}
	wxauth {
		api_base %s
		oauth_base %s
		%s
		official_account oa {
			app_id %s
			app_secret {env.OA_SECRET}
		}
		website site {
			app_id %s
			app_secret {env.SITE_SECRET}
		}
	}
}

%s {
	wxauth {
		login_redirect
	}
	reverse_proxy %s
}

%s {
	wxauth {
		apps oa
		oauth_scope snsapi_userinfo
	}
	reverse_proxy %s
}
`, adminPort, t.TempDir(), proxiedPort, c.wechat, c.wechat, c.global, oaAppID, siteAppID, direct, backend, proxied, backend)
	proc := runCaddyProcess(t, caddyfile, direct+"/wx/.well-known/jwks.json")
	t.Cleanup(proc.Stop)
	return direct, proxied, fmt.Sprintf("http://127.0.0.1:%d", adminPort)
}

// browser sends requests as a browser would, minus following redirects
// and a cookie jar: each test says which cookies go along.
var browser = &http.Client{
	Transport:     &http.Transport{DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func get(t *testing.T, target string, header http.Header, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func setCookie(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie; Set-Cookie: %q", name, resp.Header.Values("Set-Cookie"))
	return nil
}

// webLogin is one login through Caddy and WeChat's authorize page, stopped
// before the callback: where WeChat sends the browser back, and the state
// cookie Caddy set.
type webLogin struct {
	authorize string
	callback  *url.URL
	state     *http.Cookie
}

// startWebLogin opens site's oauth path as a browser with header and
// follows the fake WeChat's authorize page back to the callback, for user
// queued for appID (snapshot: as a snapshot-page visitor).
func (c *h5Company) startWebLogin(t *testing.T, site, query string, header http.Header, appID, user string, snapshot bool) webLogin {
	t.Helper()
	resp := get(t, site+"/wx/oauth"+query, header)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("oauth: %d", resp.StatusCode)
	}
	l := webLogin{authorize: resp.Header.Get("Location"), state: setCookie(t, resp, "__Host-wxauth_state")}
	if snapshot {
		c.mock.App(appID).NextOAuthSnapshot(user)
	} else {
		c.mock.App(appID).NextOAuthUser(user)
	}
	page := get(t, l.authorize, nil)
	var err error
	if l.callback, err = url.Parse(page.Header.Get("Location")); err != nil || page.StatusCode != http.StatusFound {
		t.Fatalf("the authorize page answered %d (errcode %s) for %s", page.StatusCode, page.Header.Get("X-Wxmock-Errcode"), l.authorize)
	}
	return l
}

func TestH5LoginThroughCaddyReachesAnUnmodifiedUpstreamAsTheUser(t *testing.T) {
	c := newH5Company(t, "")
	tests := []struct {
		name, userAgent, appID string
		wantUnionID            bool
	}{
		{"an official account's page in WeChat", "Mozilla/5.0 (Linux; Android 14) MicroMessenger/8.0.50", oaAppID, false}, // snsapi_base
		{"a website on a desktop", "Mozilla/5.0 (X11; Linux x86_64) Chrome/156", siteAppID, true},                         // snsapi_login
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ua := http.Header{"User-Agent": {tc.userAgent}, "Accept": {"text/html"}}
			// The page load is sent to log in and comes back to itself.
			first := get(t, c.direct+"/orders?id=7", ua)
			if first.StatusCode != http.StatusFound || first.Header.Get("Location") != "/wx/oauth?return_to=%2Forders%3Fid%3D7" {
				t.Fatalf("page load: %d, Location %q", first.StatusCode, first.Header.Get("Location"))
			}
			l := c.startWebLogin(t, c.direct, "?return_to=%2Forders%3Fid%3D7", ua, tc.appID, "bob", false)
			if l.callback.Scheme+"://"+l.callback.Host != c.direct || l.callback.Path != "/wx/oauth/callback" {
				t.Fatalf("WeChat sent the browser back to %s", l.callback)
			}
			back := get(t, l.callback.String(), ua, l.state)
			if back.StatusCode != http.StatusFound || back.Header.Get("Location") != "/orders?id=7#" {
				t.Fatalf("callback: %d, Location %q", back.StatusCode, back.Header.Get("Location"))
			}
			login := setCookie(t, back, "wxauth")
			if !login.HttpOnly || !login.Secure || login.SameSite != http.SameSiteLaxMode || login.Path != "/" || login.MaxAge != 7200 {
				t.Errorf("login cookie: %s", back.Header.Values("Set-Cookie"))
			}
			forged := http.Header{"X-OpenID": {"forged"}, "X-AppID": {"forged"}, "X-WX-OPENID": {"forged"}}
			if resp := get(t, c.direct+"/orders?id=7", forged, login); resp.StatusCode != http.StatusOK {
				t.Fatalf("with the cookie: %d", resp.StatusCode)
			}
			seen := c.upstream.last(t)
			if seen.Get("X-OpenID") != c.mock.App(tc.appID).OpenID("bob") || seen.Get("X-AppID") != tc.appID || seen.Get("X-WX-OPENID") != "" {
				t.Errorf("upstream saw X-OpenID %q, X-AppID %q, X-WX-OPENID %q", seen.Get("X-OpenID"), seen.Get("X-AppID"), seen.Get("X-WX-OPENID"))
			}
			if (seen.Get("X-UnionID") != "") != tc.wantUnionID {
				t.Errorf("upstream saw X-UnionID %q", seen.Get("X-UnionID"))
			}
		})
	}
}

func TestH5LoginRefusalsThroughCaddy(t *testing.T) {
	c := newH5Company(t, "")
	site := c.proxied // one official account: no appid needed
	start := func(user string, snapshot bool) webLogin {
		return c.startWebLogin(t, site, "", nil, oaAppID, user, snapshot)
	}
	withQuery := func(u *url.URL, key, value string) string {
		q := u.Query()
		if value == "" {
			q.Del(key)
		} else {
			q.Set(key, value)
		}
		v := *u
		v.RawQuery = q.Encode()
		return v.String()
	}
	loggedIn := func() *http.Cookie {
		l := start("dave", false)
		return setCookie(t, get(t, l.callback.String(), nil, l.state), "wxauth")
	}
	tests := []struct {
		name   string
		send   func() response
		status int
		code   string
	}{
		{"an open redirect to another host", func() response { return do(t, "GET", site+"/wx/oauth?return_to=//evil.example/", "", "") }, 400, "invalid_request"},
		{"an open redirect with a backslash", func() response { return do(t, "GET", site+"/wx/oauth?return_to=/%5Cevil.example", "", "") }, 400, "invalid_request"},
		{"an open redirect with a scheme", func() response {
			return do(t, "GET", site+"/wx/oauth?return_to=https://evil.example/", "", "")
		}, 400, "invalid_request"},
		{"a callback without the state cookie", func() response { return do(t, "GET", start("bob", false).callback.String(), "", "") }, 400, "invalid_request"},
		{"a callback with a wrong state", func() response {
			l := start("bob", false)
			return cookieRequest(t, "GET", withQuery(l.callback, "state", "0123456789abcdef0123456789abcdef"), l.state, "")
		}, 400, "invalid_request"},
		{"a callback without a state", func() response {
			l := start("bob", false)
			return cookieRequest(t, "GET", withQuery(l.callback, "state", ""), l.state, "")
		}, 400, "invalid_request"},
		{"a callback replayed", func() response {
			l := start("bob", false)
			if first := get(t, l.callback.String(), nil, l.state); first.StatusCode != http.StatusFound {
				t.Fatalf("first callback: %d", first.StatusCode)
			}
			return cookieRequest(t, "GET", l.callback.String(), l.state, "")
		}, 400, "invalid_request"},
		{"an invalid code", func() response {
			l := start("bob", false)
			return cookieRequest(t, "GET", withQuery(l.callback, "code", "061invalidcode0000000000000000"), l.state, "")
		}, 401, "invalid_code"},
		{"a snapshot-page visitor", func() response {
			l := start("carol", true)
			return cookieRequest(t, "GET", l.callback.String(), l.state, "")
		}, 403, "snapshot_user"},
		{"a cross-site POST with the cookie", func() response {
			return cookieRequest(t, "POST", site+"/api/orders", loggedIn(), "https://evil.example")
		}, 403, "csrf_failed"},
		{"a POST with the cookie and no Origin or Referer", func() response {
			return cookieRequest(t, "POST", site+"/api/orders", loggedIn(), "")
		}, 403, "csrf_failed"},
		{"the cookie after logout", func() response {
			cookie := loggedIn()
			out := cookieRequest(t, "POST", site+"/wx/logout", cookie, site)
			if out.Status != http.StatusNoContent || !strings.Contains(out.Header.Get("Set-Cookie"), "Max-Age=0") {
				t.Fatalf("logout: %d, Set-Cookie %q", out.Status, out.Header.Get("Set-Cookie"))
			}
			return cookieRequest(t, "GET", site+"/api/orders", cookie, "")
		}, 401, "unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(c.upstream.requests())
			r := tc.send()
			wantError(t, r, tc.status, tc.code)
			if strings.Contains(r.Header.Get("Set-Cookie"), "wxauth=ey") {
				t.Errorf("a refusal set a login cookie: %q", r.Header.Values("Set-Cookie"))
			}
			if n := len(c.upstream.requests()); n != before {
				t.Errorf("the upstream was called")
			}
		})
	}
	// A POST from the site's own page goes through.
	if r := cookieRequest(t, "POST", site+"/api/orders", loggedIn(), site); r.Status != http.StatusOK {
		t.Fatalf("a same-site POST: %d %s", r.Status, r.Body)
	}
}

// cookieRequest sends method to target with cookie and, when set, Origin.
func cookieRequest(t *testing.T, method, target string, cookie *http.Cookie, origin string) response {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(cookie)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return roundTrip(t, req)
}

func TestTheCallbackURLIsTheOneTheBrowserSeesBehindATrustedTLSProxy(t *testing.T) {
	c := newH5Company(t, "")
	forwarded := http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"h5.example"}}
	tests := []struct {
		name, site, want string
	}{
		{"behind the proxy Caddy trusts", c.proxied, "https://h5.example/wx/oauth/callback"},
		{"from a client Caddy does not trust", c.direct, c.direct + "/wx/oauth/callback"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, tc.site+"/wx/oauth?appid="+oaAppID, forwarded)
			to, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || resp.StatusCode != http.StatusFound {
				t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if got := to.Query().Get("redirect_uri"); got != tc.want {
				t.Errorf("redirect_uri = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestAnH5LoginStartedOnOneInstanceEndsOnAnotherAndItsLogoutReachesBoth(t *testing.T) {
	srv := redistest.StartServer(t)
	c := newH5Company(t, fmt.Sprintf("store redis %s\n\t\tkey_prefix %s\n\t\tcache_ttl 1h", srv.URL(), redistest.Prefix(t)))
	other, _, otherAdmin := c.startInstance(t)
	for _, admin := range []string{c.admin, otherAdmin} {
		waitFor(t, 10*time.Second, "events flow on "+admin, func() bool { return eventsSubscribed(t, admin, oaAppID) == 1 })
	}

	// The load balancer sends the start to one instance and WeChat's
	// redirect back to the other: the state is signed with a key both
	// derive from the AppSecret, and claimed in the store they share.
	l := c.startWebLogin(t, c.direct, "?appid="+oaAppID, nil, oaAppID, "erin", false)
	back := get(t, strings.Replace(l.callback.String(), c.direct, other, 1), nil, l.state)
	if back.StatusCode != http.StatusFound {
		t.Fatalf("callback on the other instance: %d", back.StatusCode)
	}
	login := setCookie(t, back, "wxauth")
	if again := cookieRequest(t, "GET", l.callback.String(), l.state, ""); again.Status != http.StatusBadRequest {
		t.Fatalf("the same callback on the first instance: %d, want 400 (the state is used)", again.Status)
	}
	for _, site := range []string{c.direct, other} {
		if r := cookieRequest(t, "GET", site+"/api/me", login, ""); r.Status != http.StatusOK {
			t.Fatalf("the cookie on %s: %d", site, r.Status)
		}
	}
	// Logging out on one instance is seen by the other at once, though
	// its cache_ttl is an hour: the change travels as a Redis event.
	if out := cookieRequest(t, "POST", other+"/wx/logout", login, other); out.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", out.Status, out.Body)
	}
	waitFor(t, 2*time.Second, "the first instance to refuse the logged-out cookie", func() bool {
		return cookieRequest(t, "GET", c.direct+"/api/me", login, "").Status == http.StatusUnauthorized
	})
}
