package wxmock

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

const (
	testAppID2  = "wxfedcba9876543210"
	testSecret2 = "other-secret"
	callback    = "https://app.example/wx/callback"
)

// authorizeURL builds an authorize page URL with the documented parameters
// in the documented order, then extra key/value pairs; an empty value leaves
// its parameter out.
func authorizeURL(path, appid, redirect, scope, state string, extra ...string) string {
	var params []string
	for _, kv := range [][2]string{{"appid", appid}, {"redirect_uri", redirect}, {"response_type", "code"}, {"scope", scope}, {"state", state}} {
		if kv[1] != "" {
			params = append(params, kv[0]+"="+url.QueryEscape(kv[1]))
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		params = append(params, extra[i]+"="+url.QueryEscape(extra[i+1]))
	}
	return path + "?" + strings.Join(params, "&")
}

// pageReply is what a browser gets from an authorize page.
type pageReply struct {
	status   int
	header   http.Header
	location *url.URL // nil unless redirected
	body     string
}

func openPage(t *testing.T, h http.Handler, target string) pageReply {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	r := pageReply{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	if loc := rec.Header().Get("Location"); loc != "" {
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("Location %q: %v", loc, err)
		}
		r.location = u
	}
	return r
}

// mustRedirect opens an authorize page and returns the code it sent the
// browser back with.
func mustRedirect(t *testing.T, h http.Handler, target string) string {
	t.Helper()
	r := openPage(t, h, target)
	if r.status != http.StatusFound || r.location == nil {
		t.Fatalf("%s answered %d %q, want a 302", target, r.status, r.body)
	}
	code := r.location.Query().Get("code")
	if code == "" {
		t.Fatalf("redirect %s carries no code", r.location)
	}
	return code
}

// webLogin logs a user in through the page for scope (qrconnect for
// snsapi_login, oauth2/authorize otherwise) of appid and returns the code.
func webLogin(t *testing.T, h http.Handler, appid, scope string, extra ...string) string {
	t.Helper()
	path := PathOAuthAuthorize
	if scope == ScopeLogin {
		path = PathQRConnect
	}
	return mustRedirect(t, h, authorizeURL(path, appid, callback, scope, "xyz", extra...))
}

func exchangeURL(appid, secret, code, grantType string) string {
	q := url.Values{}
	for k, v := range map[string]string{"appid": appid, "secret": secret, "code": code, "grant_type": grantType} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return PathOAuthAccessToken + "?" + q.Encode()
}

func exchange(t *testing.T, h http.Handler, appid, secret, code string) reply {
	t.Helper()
	return do(t, h, http.MethodGet, exchangeURL(appid, secret, code, "authorization_code"), nil)
}

func userInfo(t *testing.T, h http.Handler, token, openid string) reply {
	t.Helper()
	q := url.Values{"lang": {"zh_CN"}}
	if token != "" {
		q.Set("access_token", token)
	}
	if openid != "" {
		q.Set("openid", openid)
	}
	return do(t, h, http.MethodGet, PathSNSUserInfo+"?"+q.Encode(), nil)
}

// loginOpenID logs in at appid's page for scope and returns the openid the
// exchange answers.
func loginOpenID(t *testing.T, s *Server, appid, secret, scope string, extra ...string) string {
	t.Helper()
	r := exchange(t, s, appid, secret, webLogin(t, s, appid, scope, extra...))
	if r.errcode() != 0 {
		t.Fatalf("exchange answered %v", r.body)
	}
	return r.str("openid")
}

func newTwoAppOAuthServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Apps = []App{{AppID: testAppID2, AppSecret: testSecret2}}
	s, _ := newTestServer(t, cfg)
	return s
}

func TestAuthorizePagesRedirectAtOnceToTheCallbackWithCodeAndState(t *testing.T) {
	tests := []struct {
		name     string
		target   string
		want     string // the Location without its code
		wantCode bool
	}{
		{"official account, snsapi_base",
			authorizeURL(PathOAuthAuthorize, testAppID, callback, ScopeBase, "s1"),
			callback + "?code=CODE&state=s1", true},
		{"official account, snsapi_userinfo",
			authorizeURL(PathOAuthAuthorize, testAppID, callback, ScopeUserInfo, "s2"),
			callback + "?code=CODE&state=s2", true},
		{"website QR login, snsapi_login",
			authorizeURL(PathQRConnect, testAppID, callback, ScopeLogin, "s3"),
			callback + "?code=CODE&state=s3", true},
		{"a callback with a query keeps it and gets code and state after it",
			authorizeURL(PathOAuthAuthorize, testAppID, callback+"?next=%2Fcart&x=1", ScopeBase, "s4"),
			callback + "?next=%2Fcart&x=1&code=CODE&state=s4", true},
		{"a callback with a fragment gets code and state before it",
			authorizeURL(PathOAuthAuthorize, testAppID, "https://app.example/#/login", ScopeBase, "s5"),
			"https://app.example/?code=CODE&state=s5#/login", true},
		{"a callback without a path gets one, as in redirect_uri/?code=CODE",
			authorizeURL(PathOAuthAuthorize, testAppID, "http://app.example:8080", ScopeBase, "s6"),
			"http://app.example:8080/?code=CODE&state=s6", true},
		{"without state the redirect carries an empty one",
			authorizeURL(PathOAuthAuthorize, testAppID, callback, ScopeBase, ""),
			callback + "?code=CODE&state=", true},
		{"qrconnect hands back a state with any characters",
			authorizeURL(PathQRConnect, testAppID, callback, ScopeLogin, "a-b_c.d~e/f"),
			callback + "?code=CODE&state=a-b_c.d~e%2Ff", true},
		{"extra parameters such as connect_redirect are ignored",
			authorizeURL(PathOAuthAuthorize, testAppID, callback, ScopeBase, "s7", "connect_redirect", "1"),
			callback + "?code=CODE&state=s7", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t, Config{})
			r := openPage(t, s, tt.target)
			if r.status != http.StatusFound || r.location == nil {
				t.Fatalf("answered %d %q, want a 302", r.status, r.body)
			}
			code := r.location.Query().Get("code")
			if len(code) != 32 {
				t.Errorf("code %q is not 32 characters like WeChat's", code)
			}
			if got := strings.Replace(r.location.String(), "code="+code, "code=CODE", 1); got != tt.want {
				t.Errorf("Location = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOfficialAccountPageShowsWeChatsErrorPageInsteadOfRedirecting(t *testing.T) {
	tests := []struct {
		name    string
		target  string
		errcode int    // the code the page shows, 0 for none
		text    string // what it says
	}{
		{"appid missing", authorizeURL(PathOAuthAuthorize, "", callback, ScopeBase, "s"), 10012, "appid不能为空"},
		{"redirect_uri missing", authorizeURL(PathOAuthAuthorize, testAppID, "", ScopeBase, "s"), 10011, "redirect_uri不能为空"},
		{"scope missing", authorizeURL(PathOAuthAuthorize, testAppID, callback, "", "s"), 10010, "scope不能为空"},
		{"an AppID the fake does not serve", authorizeURL(PathOAuthAuthorize, "wx0000000000000000", callback, ScopeBase, "s"), 10003, "redirect_uri域名与后台配置不一致"},
		{"a redirect_uri that is not an absolute URL", authorizeURL(PathOAuthAuthorize, testAppID, "/wx/callback", ScopeBase, "s"), 10003, "redirect_uri域名与后台配置不一致"},
		{"a redirect_uri that is not http or https", authorizeURL(PathOAuthAuthorize, testAppID, "javascript://app.example/x", ScopeBase, "s"), 10003, "redirect_uri域名与后台配置不一致"},
		{"snsapi_login, which is qrconnect's", authorizeURL(PathOAuthAuthorize, testAppID, callback, ScopeLogin, "s"), 10005, "此公众号并没有这些scope的权限"},
		{"an unknown scope", authorizeURL(PathOAuthAuthorize, testAppID, callback, "snsapi_everything", "s"), 10005, "此公众号并没有这些scope的权限"},
		{"response_type other than code", strings.Replace(authorizeURL(PathOAuthAuthorize, testAppID, callback, ScopeBase, "s"), "response_type=code", "response_type=token", 1), 0, "该链接无法访问"},
		{"response_type missing", strings.Replace(authorizeURL(PathOAuthAuthorize, testAppID, callback, ScopeBase, "s"), "&response_type=code", "", 1), 0, "该链接无法访问"},
		{"parameters out of the documented order",
			PathOAuthAuthorize + "?redirect_uri=" + url.QueryEscape(callback) + "&appid=" + testAppID + "&response_type=code&scope=snsapi_base&state=s", 0, "该链接无法访问"},
		{"state with a character outside a-zA-Z0-9", authorizeURL(PathOAuthAuthorize, testAppID, callback, ScopeBase, "abc-def"), 0, "该链接无法访问"},
		{"state with the fragment pasted into it", authorizeURL(PathOAuthAuthorize, testAppID, callback, ScopeBase, "abc#wechat_redirect"), 0, "该链接无法访问"},
		{"state over 128 bytes", authorizeURL(PathOAuthAuthorize, testAppID, callback, ScopeBase, strings.Repeat("a", 129)), 0, "该链接无法访问"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t, Config{})
			s.NextOAuthUser("bob")
			checkErrorPage(t, openPage(t, s, tt.target), tt.errcode, tt.text)
			if n := len(s.oauthCodes); n != 0 {
				t.Errorf("the refused request minted %d codes", n)
			}
			// The queued user is still waiting for a page that works.
			code := webLogin(t, s, testAppID, ScopeBase)
			if got := exchange(t, s, testAppID, testSecret, code).str("openid"); got != s.OpenID("bob") {
				t.Errorf("the next good page logged in %s, want bob, whom the refused request must not have consumed", got)
			}
		})
	}
}

func TestWebsitePageShowsWeChatsErrorPageInsteadOfRedirecting(t *testing.T) {
	tests := []struct {
		name   string
		target string
		text   string
	}{
		{"appid missing", authorizeURL(PathQRConnect, "", callback, ScopeLogin, "s"), "该链接无法访问"},
		{"an AppID the fake does not serve", authorizeURL(PathQRConnect, "wx0000000000000000", callback, ScopeLogin, "s"), "该链接无法访问"},
		{"response_type other than code", strings.Replace(authorizeURL(PathQRConnect, testAppID, callback, ScopeLogin, "s"), "response_type=code", "response_type=token", 1), "该链接无法访问"},
		{"redirect_uri missing", authorizeURL(PathQRConnect, testAppID, "", ScopeLogin, "s"), "redirect_uri 参数错误"},
		{"a redirect_uri that is not an absolute URL", authorizeURL(PathQRConnect, testAppID, "app.example/cb", ScopeLogin, "s"), "redirect_uri 参数错误"},
		{"an official account's snsapi_userinfo", authorizeURL(PathQRConnect, testAppID, callback, ScopeUserInfo, "s"), "Scope 参数错误或没有 Scope 权限"},
		{"an official account's snsapi_base", authorizeURL(PathQRConnect, testAppID, callback, ScopeBase, "s"), "Scope 参数错误或没有 Scope 权限"},
		{"scope missing", authorizeURL(PathQRConnect, testAppID, callback, "", "s"), "Scope 参数错误或没有 Scope 权限"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t, Config{})
			checkErrorPage(t, openPage(t, s, tt.target), 0, tt.text)
			if n := len(s.oauthCodes); n != 0 {
				t.Errorf("the refused request minted %d codes", n)
			}
		})
	}
}

// checkErrorPage asserts that r is WeChat's error page saying text, with
// errcode when it is not 0.
func checkErrorPage(t *testing.T, r pageReply, errcode int, text string) {
	t.Helper()
	if r.status != http.StatusOK || r.location != nil {
		t.Fatalf("answered %d (Location %v), want WeChat's error page with HTTP 200 and no redirect", r.status, r.location)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want text/html", ct)
	}
	for _, want := range []string{"Oops! Something went wrong:(", text} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page does not say %q:\n%s", want, r.body)
		}
	}
	wantHeader := ""
	if errcode != 0 {
		wantHeader = strconv.Itoa(errcode)
		if !strings.Contains(r.body, "错误码："+wantHeader) {
			t.Errorf("page does not show 错误码：%d:\n%s", errcode, r.body)
		}
	}
	if got := r.header.Get("X-Wxmock-Errcode"); got != wantHeader {
		t.Errorf("X-Wxmock-Errcode = %q, want %q", got, wantHeader)
	}
}

// jsonNumber is n as a decoded reply holds it.
func jsonNumber(n int) json.Number { return json.Number(strconv.Itoa(n)) }

func TestOAuthDomainsDecideWhereThePagesMayRedirect(t *testing.T) {
	tests := []struct {
		name     string
		domains  []string
		redirect string
		ok       bool
	}{
		{"no domains configured admits any host", nil, "https://anything.example/cb", true},
		{"the registered host", []string{"www.qq.com"}, "https://www.qq.com/login.html", true},
		{"the registered host, any port, when the entry names none", []string{"www.qq.com"}, "http://www.qq.com:8080/cb", true},
		{"host names compare case-insensitively", []string{"WWW.QQ.COM"}, "https://www.qq.com/cb", true},
		{"a subdomain of the registered host is refused", []string{"qq.com"}, "https://pay.qq.com/cb", false},
		{"the parent of the registered host is refused", []string{"www.qq.com"}, "https://qq.com/cb", false},
		{"an entry with a port admits that port", []string{"127.0.0.1:8080"}, "http://127.0.0.1:8080/cb", true},
		{"an entry with a port refuses another", []string{"127.0.0.1:8080"}, "http://127.0.0.1:9090/cb", false},
		{"any of several entries", []string{"a.example", "localhost"}, "http://localhost:2015/cb", true},
		{"an IPv6 host", []string{"[::1]"}, "http://[::1]:8443/cb", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t, Config{OAuthDomains: tt.domains})
			oa := openPage(t, s, authorizeURL(PathOAuthAuthorize, testAppID, tt.redirect, ScopeBase, "s"))
			qr := openPage(t, s, authorizeURL(PathQRConnect, testAppID, tt.redirect, ScopeLogin, "s"))
			if tt.ok {
				if oa.status != http.StatusFound || qr.status != http.StatusFound {
					t.Errorf("pages answered %d and %d, want redirects (%s / %s)", oa.status, qr.status, oa.body, qr.body)
				}
				return
			}
			checkErrorPage(t, oa, 10003, "redirect_uri域名与后台配置不一致")
			checkErrorPage(t, qr, 0, "redirect_uri 参数错误")
		})
	}
}

func TestTheTestChoosesWhoLogsInAtTheNextAuthorizeOfEachApp(t *testing.T) {
	s := newTwoAppOAuthServer(t, Config{})
	other := s.App(testAppID2)
	if got := s.NextOAuthUser("bob"); got != s.OpenID("bob") {
		t.Fatalf("NextOAuthUser returned %s, want bob's openid", got)
	}
	s.NextOAuthUser("carol")
	other.NextOAuthUser("dave")

	steps := []struct {
		name   string
		appid  string
		scope  string
		extra  []string
		wantAs string
	}{
		{"the first queued user of the default app", testAppID, ScopeBase, nil, "bob"},
		{"the other app's own queue, on its website page", testAppID2, ScopeLogin, nil, "dave"},
		{"mock_user on the URL beats the queue and leaves it alone", testAppID, ScopeUserInfo, []string{"mock_user", "erin"}, "erin"},
		{"the second queued user, on the website page", testAppID, ScopeLogin, nil, "carol"},
		{"with the queue empty, the default user", testAppID, ScopeBase, nil, DefaultOAuthUser},
		{"the other app's queue is empty too", testAppID2, ScopeUserInfo, nil, DefaultOAuthUser},
	}
	for _, st := range steps {
		secret := testSecret
		if st.appid == testAppID2 {
			secret = testSecret2
		}
		got := loginOpenID(t, s, st.appid, secret, st.scope, st.extra...)
		if want := s.App(st.appid).OpenID(st.wantAs); got != want {
			t.Errorf("%s: logged in %s, want %s's openid %s", st.name, got, st.wantAs, want)
		}
	}
}

func TestSnapshotLoginsAnswerAVirtualAccount(t *testing.T) {
	s, _ := newTestServer(t, Config{UnionID: true})
	virtual := s.NextOAuthSnapshot("bob")
	if virtual != s.SnapshotOpenID("bob") || virtual == s.OpenID("bob") || !strings.HasPrefix(virtual, "o") || len(virtual) != 28 {
		t.Fatalf("NextOAuthSnapshot returned %q, want SnapshotOpenID(bob), openid-shaped and not bob's real openid", virtual)
	}

	snap := exchange(t, s, testAppID, testSecret, webLogin(t, s, testAppID, ScopeUserInfo))
	if snap.str("openid") != virtual || snap.body["is_snapshotuser"] != jsonNumber(1) {
		t.Fatalf("snapshot exchange answered %v, want the virtual openid and is_snapshotuser 1", snap.body)
	}
	if u := snap.str("unionid"); u == "" || u == s.UnionID("bob") {
		t.Errorf("snapshot unionid = %q, want a virtual one, not bob's", u)
	}
	info := userInfo(t, s, snap.str("access_token"), virtual)
	if info.str("nickname") != "微信用户" || info.str("headimgurl") != defaultAvatar || info.str("openid") != virtual {
		t.Errorf("snapshot userinfo = %v, want the virtual account's profile", info.body)
	}

	// Only that one login was a snapshot.
	next := exchange(t, s, testAppID, testSecret, webLogin(t, s, testAppID, ScopeUserInfo))
	if _, ok := next.body["is_snapshotuser"]; ok || next.str("openid") != s.OpenID(DefaultOAuthUser) {
		t.Errorf("the following login answered %v, want alice's real account without is_snapshotuser", next.body)
	}

	// mock_snapshot=1 on the URL does the same for mock_user.
	byURL := exchange(t, s, testAppID, testSecret, webLogin(t, s, testAppID, ScopeBase, "mock_user", "carol", "mock_snapshot", "1"))
	if byURL.str("openid") != s.SnapshotOpenID("carol") || byURL.body["is_snapshotuser"] != jsonNumber(1) {
		t.Errorf("mock_snapshot=1 answered %v, want carol's virtual openid with is_snapshotuser 1", byURL.body)
	}

	// A website login has no snapshot mode: the queued user logs in for real.
	s.NextOAuthSnapshot("dave")
	qr := exchange(t, s, testAppID, testSecret, webLogin(t, s, testAppID, ScopeLogin))
	if _, ok := qr.body["is_snapshotuser"]; ok || qr.str("openid") != s.OpenID("dave") {
		t.Errorf("qrconnect after NextOAuthSnapshot answered %v, want dave's real account", qr.body)
	}
}

func TestControlEndpointsQueueTheNextOAuthUserAndMintCodesOverHTTP(t *testing.T) {
	s := newTwoAppOAuthServer(t, Config{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	next := httpCall(t, srv, http.MethodPost, "/mock/oauth/next?user=bob&appid="+testAppID2, "")
	if next.status != http.StatusOK || next.str("openid") != s.App(testAppID2).OpenID("bob") {
		t.Fatalf("/mock/oauth/next answered %d %v", next.status, next.body)
	}
	snap := httpCall(t, srv, http.MethodPost, "/mock/oauth/next?user=carol&snapshot=1", "")
	if snap.str("openid") != s.SnapshotOpenID("carol") {
		t.Fatalf("/mock/oauth/next with snapshot=1 answered %v", snap.body)
	}

	resp, err := client.Get(srv.URL + authorizeURL(PathOAuthAuthorize, testAppID2, callback, ScopeBase, "s"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("authorize answered %d without a Location: %v", resp.StatusCode, err)
	}
	tok := httpCall(t, srv, http.MethodGet, exchangeURL(testAppID2, testSecret2, loc.Query().Get("code"), "authorization_code"), "")
	if tok.str("openid") != next.str("openid") {
		t.Errorf("the other app's page logged in %v, want bob", tok.body)
	}
	if got := loginOpenID(t, s, testAppID, testSecret, ScopeBase); got != snap.str("openid") {
		t.Errorf("the default app's page logged in %s, want carol's snapshot account", got)
	}

	code := httpCall(t, srv, http.MethodGet, "/mock/oauth/code?user=dave&scope=snsapi_userinfo", "")
	redeemed := httpCall(t, srv, http.MethodGet, exchangeURL(testAppID, testSecret, code.str("code"), "authorization_code"), "")
	if redeemed.str("openid") != code.str("openid") || redeemed.str("scope") != ScopeUserInfo {
		t.Errorf("/mock/oauth/code's code redeemed as %v, want dave with snsapi_userinfo", redeemed.body)
	}

	mistakes := []struct {
		name, method, path string
		want               int
	}{
		{"next without user", http.MethodPost, "/mock/oauth/next", http.StatusBadRequest},
		{"next with a snapshot that is no boolean", http.MethodPost, "/mock/oauth/next?user=a&snapshot=yes", http.StatusBadRequest},
		{"next for an app the fake does not serve", http.MethodPost, "/mock/oauth/next?user=a&appid=wxnope", http.StatusBadRequest},
		{"next by GET", http.MethodGet, "/mock/oauth/next?user=a", http.StatusMethodNotAllowed},
		{"code without a scope", http.MethodGet, "/mock/oauth/code?user=a", http.StatusBadRequest},
		{"code with an unknown scope", http.MethodGet, "/mock/oauth/code?user=a&scope=snsapi_all", http.StatusBadRequest},
		{"code without user", http.MethodGet, "/mock/oauth/code?scope=snsapi_base", http.StatusBadRequest},
	}
	for _, tt := range mistakes {
		t.Run(tt.name, func(t *testing.T) {
			if r := httpCall(t, srv, tt.method, tt.path, ""); r.status != tt.want || r.str("error") == "" {
				t.Errorf("answered %d %v, want %d with an explanation", r.status, r.body, tt.want)
			}
		})
	}
}

func TestResetForgetsTheQueuedOAuthUsers(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	s.NextOAuthUser("bob")
	s.NextOAuthSnapshot("carol")
	s.Reset()
	if got := loginOpenID(t, s, testAppID, testSecret, ScopeBase); got != s.OpenID(DefaultOAuthUser) {
		t.Errorf("after Reset the page logged in %s, want the default user", got)
	}
}
