package wxmock

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestOAuthAccessTokenAnswersTheDocumentedFields(t *testing.T) {
	tests := []struct {
		name        string
		unionID     bool
		scope       string
		wantUnionID bool
	}{
		{"snsapi_base", false, ScopeBase, false},
		{"snsapi_userinfo", false, ScopeUserInfo, false},
		{"snsapi_login", false, ScopeLogin, false},
		{"snsapi_base with Config.UnionID has no unionid, as the docs say", true, ScopeBase, false},
		{"snsapi_userinfo with Config.UnionID", true, ScopeUserInfo, true},
		{"snsapi_login with Config.UnionID", true, ScopeLogin, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t, Config{UnionID: tt.unionID})
			s.NextOAuthUser("bob")
			r := exchange(t, s, testAppID, testSecret, webLogin(t, s, testAppID, tt.scope))
			if r.status != http.StatusOK || r.errcode() != 0 {
				t.Fatalf("exchange answered %d %v", r.status, r.body)
			}
			if r.str("openid") != s.OpenID("bob") || r.str("scope") != tt.scope || r.body["expires_in"] != jsonNumber(7200) {
				t.Errorf("answer %v, want bob's openid, scope %s, expires_in 7200", r.body, tt.scope)
			}
			for _, key := range []string{"access_token", "refresh_token"} {
				if v := r.str(key); !wellFormedToken(v) || !strings.HasPrefix(v, "91_") {
					t.Errorf("%s %q is not shaped like WeChat's tokens", key, v)
				}
			}
			if r.str("access_token") == r.str("refresh_token") {
				t.Errorf("access_token and refresh_token are the same")
			}
			if _, ok := r.body["is_snapshotuser"]; ok {
				t.Errorf("is_snapshotuser present for a real user: %v", r.body)
			}
			switch u, ok := r.body["unionid"]; {
			case tt.wantUnionID && u != s.UnionID("bob"):
				t.Errorf("unionid = %v, want bob's %s", u, s.UnionID("bob"))
			case !tt.wantUnionID && ok:
				t.Errorf("unionid present: %v", r.body)
			}
		})
	}
}

func TestOAuthAccessTokenAnswersEachDocumentedError(t *testing.T) {
	s := newTwoAppOAuthServer(t, Config{})
	good := webLogin(t, s, testAppID, ScopeBase)
	tests := []struct {
		name   string
		target string
		want   int
	}{
		{"appid missing", exchangeURL("", testSecret, good, "authorization_code"), errAppIDMissing},
		{"an AppID the fake does not serve", exchangeURL("wx0000000000000000", testSecret, good, "authorization_code"), errInvalidAppID},
		{"secret missing", exchangeURL(testAppID, "", good, "authorization_code"), errAppSecretMissing},
		{"wrong secret", exchangeURL(testAppID, "nope", good, "authorization_code"), errInvalidAppSecret},
		{"another served app's secret", exchangeURL(testAppID, testSecret2, good, "authorization_code"), errInvalidAppSecret},
		{"grant_type missing", exchangeURL(testAppID, testSecret, good, ""), errInvalidGrantType},
		{"wrong grant_type", exchangeURL(testAppID, testSecret, good, "refresh_token"), errInvalidGrantType},
		{"code missing", exchangeURL(testAppID, testSecret, "", "authorization_code"), errCodeMissing},
		{"unknown code", exchangeURL(testAppID, testSecret, "061xYzAbCdEfGhIjKlMnOpQrStUvWxYz", "authorization_code"), errInvalidCode},
		{"a wx.login code", exchangeURL(testAppID, testSecret, s.Code("alice"), "authorization_code"), errInvalidCode},
		{"another app's code", exchangeURL(testAppID, testSecret, s.App(testAppID2).OAuthCode("alice", ScopeBase), "authorization_code"), errInvalidCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, http.MethodGet, tt.target, nil)
			if r.status != http.StatusOK || r.errcode() != tt.want {
				t.Errorf("answered %d %v, want HTTP 200 with errcode %d", r.status, r.body, tt.want)
			}
			if msg := r.str("errmsg"); !strings.Contains(msg, ", rid: ") {
				t.Errorf("errmsg %q lacks the /sns/ rid suffix", msg)
			}
		})
	}
	if r := exchange(t, s, testAppID, testSecret, good); r.errcode() != 0 {
		t.Errorf("the good code after the failed attempts answered %v; none of them may consume it", r.body)
	}
}

func TestOAuthCodesAreRedeemableOnlyOnce(t *testing.T) {
	for _, scope := range []string{ScopeBase, ScopeUserInfo, ScopeLogin} {
		t.Run(scope, func(t *testing.T) {
			s, _ := newTestServer(t, Config{})
			code := webLogin(t, s, testAppID, scope)
			if r := exchange(t, s, testAppID, testSecret, code); r.errcode() != 0 {
				t.Fatalf("first exchange answered %v", r.body)
			}
			for range 2 {
				if r := exchange(t, s, testAppID, testSecret, code); r.errcode() != errCodeBeenUsed {
					t.Errorf("reuse answered %v, want %d code been used", r.body, errCodeBeenUsed)
				}
			}
		})
	}
}

func TestOAuthCodesExpireFiveMinutesAfterAnOfficialAccountPageAndTenAfterAWebsitePage(t *testing.T) {
	tests := []struct {
		scope string
		age   time.Duration
		want  int
	}{
		{ScopeBase, 5*time.Minute - time.Second, 0},
		{ScopeBase, 5 * time.Minute, errInvalidCode},
		{ScopeUserInfo, 5*time.Minute - time.Second, 0},
		{ScopeUserInfo, 5 * time.Minute, errInvalidCode},
		{ScopeLogin, 10*time.Minute - time.Second, 0},
		{ScopeLogin, 10 * time.Minute, errInvalidCode},
		{ScopeLogin, time.Hour, errInvalidCode},
	}
	for _, tt := range tests {
		t.Run(tt.scope+" after "+tt.age.String(), func(t *testing.T) {
			s, clock := newTestServer(t, Config{})
			code := webLogin(t, s, testAppID, tt.scope)
			clock.Advance(tt.age)
			if r := exchange(t, s, testAppID, testSecret, code); r.errcode() != tt.want {
				t.Errorf("answered %v, want errcode %d", r.body, tt.want)
			}
		})
	}
}

func TestOAuthCodeIsRedeemableOnlyByTheAppItWasIssuedFor(t *testing.T) {
	s := newTwoAppOAuthServer(t, Config{})
	other := s.App(testAppID2)
	other.NextOAuthUser("bob")
	code := webLogin(t, s, testAppID2, ScopeUserInfo)

	if r := exchange(t, s, testAppID, testSecret, code); r.errcode() != errInvalidCode {
		t.Errorf("the default app redeeming the other app's code answered %v, want %d", r.body, errInvalidCode)
	}
	r := exchange(t, s, testAppID2, testSecret2, code)
	if r.errcode() != 0 || r.str("openid") != other.OpenID("bob") {
		t.Fatalf("the issuing app's exchange answered %v, want bob's openid in that app", r.body)
	}
	if r.str("openid") == s.OpenID("bob") {
		t.Errorf("bob has the same openid in both apps")
	}
}

func TestUserInfoAnswersOnlyAUserinfoGrantForItsOwnOpenID(t *testing.T) {
	s, clock := newTestServer(t, Config{UnionID: true})
	grant := func(user, scope string) (token, openid string) {
		t.Helper()
		r := exchange(t, s, testAppID, testSecret, webLogin(t, s, testAppID, scope, "mock_user", user))
		return r.str("access_token"), r.str("openid")
	}
	expiredTok, expiredID := grant("erin", ScopeUserInfo)
	clock.Advance(7200 * time.Second) // a web access_token's expires_in
	infoTok, infoID := grant("bob", ScopeUserInfo)
	loginTok, loginID := grant("carol", ScopeLogin)
	baseTok, baseID := grant("dave", ScopeBase)
	serverTok := mustToken(t, stableToken(t, s, false))

	tests := []struct {
		name          string
		token, openid string
		want          int
		wantNick      string
	}{
		{"a snsapi_userinfo grant", infoTok, infoID, 0, "bob"},
		{"a snsapi_login grant", loginTok, loginID, 0, "carol"},
		{"a snsapi_base grant is unauthorized", baseTok, baseID, errAPIUnauthorized, ""},
		{"another user's openid", infoTok, loginID, errInvalidOpenID, ""},
		{"the same user's openid in another app", infoTok, openID(testAppID2, "bob"), errInvalidOpenID, ""},
		{"openid missing", infoTok, "", errInvalidOpenID, ""},
		{"access_token missing", "", infoID, errAccessTokenMissing, ""},
		{"an unknown token", "91_" + strings.Repeat("x", 40), infoID, errInvalidCredential, ""},
		{"a token that is not token-shaped", "not a token!", infoID, errInvalidCredential, ""},
		{"a server access_token", serverTok, infoID, errInvalidCredential, ""},
		{"an expired web token", expiredTok, expiredID, errAccessTokenExpired, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := userInfo(t, s, tt.token, tt.openid)
			if r.status != http.StatusOK || r.errcode() != tt.want {
				t.Fatalf("answered %d %v, want errcode %d", r.status, r.body, tt.want)
			}
			if tt.want != 0 {
				return
			}
			if r.str("openid") != tt.openid || r.str("nickname") != tt.wantNick || r.str("unionid") != s.UnionID(tt.wantNick) {
				t.Errorf("profile %v, want %s's openid, nickname and unionid", r.body, tt.wantNick)
			}
			if r.body["sex"] != jsonNumber(0) || r.str("province") != "" || r.str("city") != "" || r.str("country") != "" {
				t.Errorf("profile %v, want sex 0 and empty regions, as WeChat answers since 2021", r.body)
			}
			if p, ok := r.body["privilege"].([]any); !ok || len(p) != 0 {
				t.Errorf("privilege = %v, want []", r.body["privilege"])
			}
			if u, err := url.Parse(r.str("headimgurl")); err != nil || u.Scheme != "https" || !strings.HasSuffix(u.Path, "/132") {
				t.Errorf("headimgurl %q is not shaped like WeChat's", r.str("headimgurl"))
			}
		})
	}
}

func TestUserInfoLeavesOutUnionIDUnlessConfigured(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	r := exchange(t, s, testAppID, testSecret, webLogin(t, s, testAppID, ScopeUserInfo))
	info := userInfo(t, s, r.str("access_token"), r.str("openid"))
	if _, ok := info.body["unionid"]; ok || info.errcode() != 0 {
		t.Errorf("userinfo answered %v, want a profile without unionid", info.body)
	}
	if info.str("headimgurl") != headImgURL(DefaultOAuthUser) || info.str("headimgurl") == headImgURL("bob") {
		t.Errorf("headimgurl %q is not alice's own", info.str("headimgurl"))
	}
}

func TestAWebAccessTokenIsNoServerAccessToken(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	r := exchange(t, s, testAppID, testSecret, webLogin(t, s, testAppID, ScopeUserInfo))
	web := r.str("access_token")
	if got := do(t, s, http.MethodGet, withToken(PathGetCallbackIP, web), nil).errcode(); got != errInvalidCredential {
		t.Errorf("getcallbackip with a web access_token answered %d, want %d", got, errInvalidCredential)
	}
	s.InvalidateTokens()
	if got := userInfo(t, s, web, r.str("openid")).errcode(); got != 0 {
		t.Errorf("InvalidateTokens killed a web access_token: userinfo answered %d", got)
	}
}

func TestOAuthPathsAreCountedAndAcceptInjectedFaults(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		errcode int
		call    func(t *testing.T, s *Server, code, token, openid string) (errcode int)
	}{
		{"the official account's page shows 10009 too frequent", PathOAuthAuthorize, 10009,
			func(t *testing.T, s *Server, _, _, _ string) int {
				return pageErrcode(t, openPage(t, s, authorizeURL(PathOAuthAuthorize, testAppID, callback, ScopeBase, "s")))
			}},
		{"the website page shows an injected -1", PathQRConnect, errSystemBusy,
			func(t *testing.T, s *Server, _, _, _ string) int {
				return pageErrcode(t, openPage(t, s, authorizeURL(PathQRConnect, testAppID, callback, ScopeLogin, "s")))
			}},
		{"the exchange answers -1 and keeps the code", PathOAuthAccessToken, errSystemBusy,
			func(t *testing.T, s *Server, code, _, _ string) int {
				return exchange(t, s, testAppID, testSecret, code).errcode()
			}},
		{"userinfo answers 45011", PathSNSUserInfo, errMinuteQuota,
			func(t *testing.T, s *Server, _, token, openid string) int {
				return userInfo(t, s, token, openid).errcode()
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t, Config{})
			r := exchange(t, s, testAppID, testSecret, webLogin(t, s, testAppID, ScopeUserInfo))
			code := s.OAuthCode("bob", ScopeUserInfo)
			s.Reset() // count from zero

			s.Fail(tt.path, tt.errcode, 1)
			if got := tt.call(t, s, code, r.str("access_token"), r.str("openid")); got != tt.errcode {
				t.Fatalf("first call answered %d, want the injected %d", got, tt.errcode)
			}
			if got := tt.call(t, s, code, r.str("access_token"), r.str("openid")); got != 0 {
				t.Errorf("the call after the fault answered %d, want success", got)
			}
			if n := s.Stats().Calls[tt.path]; n != 2 {
				t.Errorf("Calls[%s] = %d, want 2", tt.path, n)
			}
		})
	}
}

// pageErrcode reads an authorize page's answer as an errcode: 0 for a
// redirect, the code shown on an error page otherwise.
func pageErrcode(t *testing.T, r pageReply) int {
	t.Helper()
	if r.status == http.StatusFound {
		return 0
	}
	n, ok := map[string]int{"10009": 10009, "-1": errSystemBusy}[r.header.Get("X-Wxmock-Errcode")]
	if !ok {
		t.Fatalf("page answered %d %q, want a redirect or an error page with an errcode", r.status, r.body)
	}
	return n
}

func TestAnInjectedPageFaultConsumesNoQueuedUser(t *testing.T) {
	for _, path := range []string{PathOAuthAuthorize, PathQRConnect} {
		t.Run(path, func(t *testing.T) {
			s, _ := newTestServer(t, Config{})
			s.NextOAuthUser("bob")
			s.Fail(path, 10004, 1)
			scope := ScopeBase
			if path == PathQRConnect {
				scope = ScopeLogin
			}
			checkErrorPage(t, openPage(t, s, authorizeURL(path, testAppID, callback, scope, "s")), 10004, "此公众号被封禁")
			if n := len(s.oauthCodes); n != 0 {
				t.Errorf("the fault minted %d codes", n)
			}
			if got := loginOpenID(t, s, testAppID, testSecret, scope); got != s.OpenID("bob") {
				t.Errorf("after the fault the page logged in %s, want bob, still queued", got)
			}
		})
	}
}

func TestEveryOAuthPathIsAFailablePathCountedFromZero(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	st := s.Stats()
	for _, path := range []string{PathOAuthAuthorize, PathQRConnect, PathOAuthAccessToken, PathSNSUserInfo} {
		if n, ok := st.Calls[path]; !ok || n != 0 {
			t.Errorf("Stats().Calls[%s] = %d, %t; want a zero entry", path, n, ok)
		}
		if err := checkAPIPath(path); err != nil {
			t.Errorf("Fail would refuse %s: %v", path, err)
		}
	}
}

func TestOAuthCodeRefusesAScopeWeChatDoesNotHave(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	defer func() {
		if recover() == nil {
			t.Errorf("OAuthCode with an unknown scope did not panic")
		}
	}()
	s.OAuthCode("alice", "snsapi_everything")
}
