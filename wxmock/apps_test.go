package wxmock

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// A second app of the same company, served beside testAppID.
const (
	otherAppID  = "wx99887766554433aa"
	otherSecret = "other-secret"
)

// newTwoAppServer returns a fake serving testAppID (the default) and
// otherAppID, with unionids on.
func newTwoAppServer(t *testing.T) *Server {
	t.Helper()
	s, _ := newTestServer(t, Config{Apps: []App{{AppID: otherAppID, AppSecret: otherSecret}}, UnionID: true})
	return s
}

func secretOf(appid string) string {
	if appid == otherAppID {
		return otherSecret
	}
	return testSecret
}

// appLogin redeems code with appid's credentials.
func appLogin(t *testing.T, s *Server, appid, code string) reply {
	t.Helper()
	return do(t, s, http.MethodGet, sessionURL(appid, secretOf(appid), code, "authorization_code"), nil)
}

// appToken fetches appid's stable access_token.
func appToken(t *testing.T, s *Server, appid string) string {
	t.Helper()
	return mustToken(t, do(t, s, http.MethodPost, PathStableToken, map[string]any{
		"grant_type": "client_credential", "appid": appid, "secret": secretOf(appid),
	}))
}

func TestOneServerServesTwoAppsEachWithItsOwnIdentitiesAndTokens(t *testing.T) {
	s := newTwoAppServer(t)
	for _, appid := range []string{testAppID, otherAppID} {
		t.Run(appid, func(t *testing.T) {
			app := s.App(appid)
			sess := appLogin(t, s, appid, app.Code("alice"))
			if sess.errcode() != 0 {
				t.Fatalf("jscode2session answered %v", sess.body)
			}
			tok := appToken(t, s, appid)
			phone := do(t, s, http.MethodPost, phoneURL(tok), map[string]string{"code": app.PhoneCode("alice", "13800138000")})
			info, _ := phone.body["phone_info"].(map[string]any)
			wm, _ := info["watermark"].(map[string]any)
			check := url.Values{"access_token": {tok}, "openid": {app.OpenID("alice")},
				"signature": {sessionSignature(sess.str("session_key"), "")}, "sig_method": {"hmac_sha256"}}

			tests := []struct {
				name      string
				got, want any
			}{
				{"openid is this app's", sess.str("openid"), app.OpenID("alice")},
				{"unionid is the user's in every app", sess.str("unionid"), s.UnionID("alice")},
				{"session_key is remembered for this app", app.SessionKey("alice"), sess.str("session_key")},
				{"phone code redeems with this app's token", phone.errcode(), 0},
				{"phone watermark names this app", wm["appid"], appid},
				{"checksession with this app's token passes", do(t, s, http.MethodGet, PathCheckSession+"?"+check.Encode(), nil).errcode(), 0},
			}
			for _, tt := range tests {
				if tt.got != tt.want {
					t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
				}
			}
		})
	}

	other := s.App(otherAppID)
	tests := []struct {
		name   string
		differ bool
		a, b   string
	}{
		{"openids differ between apps", true, s.OpenID("alice"), other.OpenID("alice")},
		{"session_keys differ between apps", true, s.SessionKey("alice"), other.SessionKey("alice")},
		{"stable access_tokens differ between apps", true, appToken(t, s, testAppID), appToken(t, s, otherAppID)},
		{"the Server's helpers act for the default app", false, s.OpenID("alice"), s.App(testAppID).OpenID("alice")},
		{"unionids are the same in both apps", false, s.UnionID("alice"), other.UnionID("alice")},
	}
	for _, tt := range tests {
		if (tt.a != tt.b) != tt.differ {
			t.Errorf("%s: %q vs %q", tt.name, tt.a, tt.b)
		}
	}
	if got := s.AppIDs(); !slices.Equal(got, []string{testAppID, otherAppID}) {
		t.Errorf("AppIDs = %v, want the default app first", got)
	}
}

func TestCredentialsAreCheckedPerApp(t *testing.T) {
	s := newTwoAppServer(t)
	// codeFor mints a code the named app could redeem, so that only the
	// credentials decide the answer.
	codeFor := func(appid string) string {
		if a := s.byID[appid]; a != nil {
			return a.Code("alice")
		}
		return s.Code("alice")
	}
	tests := []struct {
		name          string
		appid, secret string
		want          int
		wantMsg       string // errmsg before ", rid: " (jscode2session) or " rid: " (cgi-bin)
	}{
		{"the default app's own pair is accepted", testAppID, testSecret, 0, ""},
		{"the second app's own pair is accepted", otherAppID, otherSecret, 0, ""},
		{"another served app's secret is a wrong secret", testAppID, otherSecret, errInvalidAppSecret, "invalid appsecret"},
		{"a wrong secret for the second app is a wrong secret", otherAppID, "nope", errInvalidAppSecret, "invalid appsecret"},
		{"an AppID no app has is an invalid appid", "wx0000000000000000", otherSecret, errInvalidAppID, "invalid appid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := []struct {
				api     string
				r       reply
				wantMsg string
			}{
				{"jscode2session", do(t, s, http.MethodGet, sessionURL(tt.appid, tt.secret, codeFor(tt.appid), "authorization_code"), nil), tt.wantMsg + ", rid: "},
				{"stable_token", do(t, s, http.MethodPost, PathStableToken, map[string]any{"grant_type": "client_credential", "appid": tt.appid, "secret": tt.secret}), tt.wantMsg + " rid: "},
				{"cgi-bin/token", do(t, s, http.MethodGet, PathToken+"?"+url.Values{"grant_type": {"client_credential"}, "appid": {tt.appid}, "secret": {tt.secret}}.Encode(), nil), tt.wantMsg + " rid: "},
			}
			for _, c := range calls {
				if got := c.r.errcode(); got != tt.want {
					t.Errorf("%s: errcode %d (%v), want %d", c.api, got, c.r.body, tt.want)
				}
				if msg := c.r.str("errmsg"); tt.want != 0 && !strings.HasPrefix(msg, c.wantMsg) {
					t.Errorf("%s: errmsg %q, want it to start %q", c.api, msg, c.wantMsg)
				}
			}
		})
	}
}

func TestACodeIsRedeemableOnlyByTheAppItWasMintedFor(t *testing.T) {
	s := newTwoAppServer(t)
	a := s.App(testAppID)
	aTok, bTok := appToken(t, s, testAppID), appToken(t, s, otherAppID)
	aSession := appLogin(t, s, testAppID, a.Code("alice")).str("session_key")
	usedCode := a.Code("carol")
	if r := appLogin(t, s, testAppID, usedCode); r.errcode() != 0 {
		t.Fatalf("first redemption of carol's code answered %v", r.body)
	}
	loginCode, phoneCode := a.Code("bob"), a.PhoneCode("alice", "13800138000")
	phone := func(tok string) reply {
		return do(t, s, http.MethodPost, phoneURL(tok), map[string]string{"code": phoneCode})
	}
	checkSession := func(tok string) reply {
		q := url.Values{"access_token": {tok}, "openid": {a.OpenID("alice")},
			"signature": {sessionSignature(aSession, "")}, "sig_method": {"hmac_sha256"}}
		return do(t, s, http.MethodGet, PathCheckSession+"?"+q.Encode(), nil)
	}

	tests := []struct {
		name  string
		wrong func() reply // app B's attempt: must answer want
		want  int
		right func() reply // app A's afterwards, when set: must still work
	}{
		{"a wx.login code of app A redeemed with app B's credentials is an invalid code",
			func() reply { return appLogin(t, s, otherAppID, loginCode) }, errInvalidCode,
			func() reply { return appLogin(t, s, testAppID, loginCode) }},
		{"a used code of app A is unknown to app B rather than used",
			func() reply { return appLogin(t, s, otherAppID, usedCode) }, errInvalidCode, nil},
		{"a phone code of app A redeemed with app B's access_token is an invalid code",
			func() reply { return phone(bTok) }, errInvalidCode,
			func() reply { return phone(aTok) }},
		{"app A's session does not pass checksession with app B's access_token",
			func() reply { return checkSession(bTok) }, errInvalidSignature,
			func() reply { return checkSession(aTok) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := tt.wrong(); r.errcode() != tt.want {
				t.Fatalf("app B's attempt answered %v, want %d", r.body, tt.want)
			}
			if tt.right == nil {
				return
			}
			if r := tt.right(); r.errcode() != 0 {
				t.Errorf("app A afterwards answered %v; app B's attempt must not use the code up", r.body)
			}
		})
	}
	if got := s.App(otherAppID).SessionKey("bob"); got != "" {
		t.Errorf("app B holds a session for bob after refusing app A's code")
	}
}

func TestTokensAndTheirCountsArePerApp(t *testing.T) {
	s := newTwoAppServer(t)
	// Two sites share app A and each fetch its stable token; one site uses
	// app B through both endpoints.
	aTok := appToken(t, s, testAppID)
	if again := appToken(t, s, testAppID); again != aTok {
		t.Fatalf("the second site of app A got another token")
	}
	bTok := appToken(t, s, otherAppID)
	legacy := do(t, s, http.MethodGet, PathToken+"?grant_type=client_credential&appid="+otherAppID+"&secret="+otherSecret, nil)
	bLegacy := mustToken(t, legacy)

	st := s.Stats()
	tests := []struct {
		name      string
		got, want int
	}{
		{"app A stable_token fetches", st.Apps[testAppID].TokenFetches[endpointStable], 2},
		{"app A stable tokens issued", st.Apps[testAppID].TokensIssued[endpointStable], 1},
		{"app A cgi-bin/token fetches", st.Apps[testAppID].TokenFetches[endpointToken], 0},
		{"app B stable_token fetches", st.Apps[otherAppID].TokenFetches[endpointStable], 1},
		{"app B cgi-bin/token fetches", st.Apps[otherAppID].TokenFetches[endpointToken], 1},
		{"stable_token fetches in total", st.TokenFetches[endpointStable], 3},
		{"stable tokens issued in total", st.TokensIssued[endpointStable], 2},
		{"cgi-bin/token fetches in total", st.TokenFetches[endpointToken], 1},
		{"apps with stats", len(st.Apps), 2},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}

	// Killing one app's tokens leaves the other's working.
	s.App(otherAppID).InvalidateTokens()
	for _, c := range []struct {
		name string
		tok  string
		want int
	}{
		{"app A's token", aTok, 0},
		{"app B's stable token", bTok, errInvalidCredential},
		{"app B's cgi-bin/token token", bLegacy, errInvalidCredential},
	} {
		if got := useToken(t, s, c.tok); got != c.want {
			t.Errorf("after app B's InvalidateTokens, %s answers %d, want %d", c.name, got, c.want)
		}
	}
	if next := appToken(t, s, otherAppID); next == bTok || useToken(t, s, next) == errInvalidCredential {
		t.Errorf("app B's stable_token after invalidation did not issue a working token")
	}

	s.Reset()
	if st := s.Stats(); st.Apps[testAppID].TokenFetches[endpointStable] != 0 || st.Apps[otherAppID].TokensIssued[endpointStable] != 0 {
		t.Errorf("Reset left per-app counts: %+v", st.Apps)
	}
}

func TestConfigNamesTheAppsServedAndTheDefault(t *testing.T) {
	b := App{AppID: otherAppID, AppSecret: otherSecret}
	tests := []struct {
		name string
		cfg  Config
		want []string // AppIDs, the default first
	}{
		{"the zero Config serves the demo app", Config{}, []string{DemoAppID}},
		{"AppID alone serves that app", Config{AppID: testAppID, AppSecret: testSecret}, []string{testAppID}},
		{"Apps alone serve those apps, the first the default", Config{Apps: []App{b, {AppID: "wx1", AppSecret: "s"}}}, []string{otherAppID, "wx1"}},
		{"AppID comes first, then Apps", Config{AppID: testAppID, AppSecret: testSecret, Apps: []App{b}}, []string{testAppID, otherAppID}},
		{"an app listed twice with one secret is served once",
			Config{AppID: testAppID, AppSecret: testSecret, Apps: []App{{AppID: testAppID, AppSecret: testSecret}, b, b}}, []string{testAppID, otherAppID}},
		{"AppSecret alone keeps the demo AppID, as before Apps existed", Config{AppSecret: "s", Apps: []App{b}}, []string{DemoAppID, otherAppID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.cfg)
			if got := s.AppIDs(); !slices.Equal(got, tt.want) {
				t.Errorf("AppIDs = %v, want %v", got, tt.want)
			}
			if got, want := s.OpenID("alice"), openID(tt.want[0], "alice"); got != want {
				t.Errorf("OpenID acts for another app than the default %s", tt.want[0])
			}
		})
	}
}

func TestConfigMistakesAboutAppsPanicWithTheReason(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"an app without an AppID", Config{Apps: []App{{AppSecret: "s"}}}, "no AppID"},
		{"an app without a secret", Config{Apps: []App{{AppID: otherAppID}}}, "no AppSecret"},
		{"one AppID with two secrets", Config{AppID: testAppID, AppSecret: testSecret, Apps: []App{{AppID: testAppID, AppSecret: "other"}}}, "different AppSecrets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := panicOf(func() { New(tt.cfg) }); !strings.Contains(got, tt.want) {
				t.Errorf("New panicked with %q, want a message containing %q", got, tt.want)
			}
		})
	}
	s := newTwoAppServer(t)
	if got := panicOf(func() { s.App("wx0000000000000000") }); !strings.Contains(got, otherAppID) {
		t.Errorf("App of an unknown AppID panicked with %q, want it to list the apps served", got)
	}
}

// panicOf runs f and returns what it panicked with, as text ("" if nothing).
func panicOf(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

func TestControlEndpointsActForTheAppNamedByAppid(t *testing.T) {
	s := newTwoAppServer(t)
	srv := httptest.NewServer(s)
	defer srv.Close()
	other := s.App(otherAppID)

	code := httpCall(t, srv, http.MethodGet, "/mock/code?user=alice&appid="+otherAppID, "")
	if code.str("openid") != other.OpenID("alice") {
		t.Fatalf("/mock/code?appid= answered openid %q, want app B's", code.str("openid"))
	}
	sess := httpCall(t, srv, http.MethodGet, sessionURL(otherAppID, otherSecret, code.str("code"), "authorization_code"), "")
	if sess.errcode() != 0 {
		t.Fatalf("app B could not redeem its /mock/code: %v", sess.body)
	}
	bTok := appToken(t, s, otherAppID)
	aTok := appToken(t, s, testAppID)
	var st Stats
	raw, _ := json.Marshal(httpCall(t, srv, http.MethodGet, "/mock/stats", "").body)
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("/mock/stats shape: %v", err)
	}
	phoneCode := httpCall(t, srv, http.MethodGet, "/mock/phonecode?user=alice&phone=13800138000&appid="+otherAppID, "").str("code")
	prof := httpCall(t, srv, http.MethodGet, "/mock/encrypted_profile?user=alice&appid="+otherAppID, "")
	var profile struct {
		OpenID    string `json:"openId"`
		UnionID   string `json:"unionId"`
		Watermark struct {
			AppID string `json:"appid"`
		} `json:"watermark"`
	}
	plain, err := decryptOpenData(sess.str("session_key"), prof.str("encryptedData"), prof.str("iv"))
	if err == nil {
		err = json.Unmarshal(plain, &profile)
	}
	if err != nil {
		t.Fatalf("app B's encrypted profile does not decrypt with app B's session_key: %v", err)
	}

	tests := []struct {
		name      string
		got, want any
	}{
		// Rows are evaluated top to bottom: the invalidations come last.
		{"app B's phone code redeems with app B's token", do(t, s, http.MethodPost, phoneURL(bTok), map[string]string{"code": phoneCode}).errcode(), 0},
		{"encrypted_profile carries app B's openid", profile.OpenID, other.OpenID("alice")},
		{"encrypted_profile carries the shared unionid", profile.UnionID, s.UnionID("alice")},
		{"encrypted_profile is watermarked with app B", profile.Watermark.AppID, otherAppID},
		{"without appid, /mock/encrypted_phone acts for the default app, where alice never logged in",
			httpCall(t, srv, http.MethodGet, "/mock/encrypted_phone?user=alice&phone=1", "").status, http.StatusConflict},
		{"with appid, /mock/encrypted_phone uses app B's session",
			httpCall(t, srv, http.MethodGet, "/mock/encrypted_phone?user=alice&phone=1&appid="+otherAppID, "").status, http.StatusOK},
		{"an unknown appid is a mistake", httpCall(t, srv, http.MethodGet, "/mock/code?user=alice&appid=wx0000000000000000", "").status, http.StatusBadRequest},
		{"/mock/stats counts token fetches per app", st.Apps[otherAppID].TokenFetches[endpointStable], 1},
		{"invalidate_tokens?appid= answers 204", httpCall(t, srv, http.MethodPost, "/mock/invalidate_tokens?appid="+otherAppID, "").status, http.StatusNoContent},
		{"invalidate_tokens?appid= kills that app's token", useToken(t, s, bTok), errInvalidCredential},
		{"invalidate_tokens?appid= spares the other app's", useToken(t, s, aTok), 0},
		{"invalidate_tokens without appid kills every app's", func() int {
			httpCall(t, srv, http.MethodPost, "/mock/invalidate_tokens", "")
			return useToken(t, s, aTok)
		}(), errInvalidCredential},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}
