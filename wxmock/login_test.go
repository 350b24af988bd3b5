package wxmock

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestJSCode2SessionAnswersEachDocumentedError(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	good := s.Code("alice")
	tests := []struct {
		name   string
		method string
		target string
		want   int
	}{
		{"appid missing", http.MethodGet, sessionURL("", testSecret, good, "authorization_code"), errAppIDMissing},
		{"wrong appid", http.MethodGet, sessionURL("wx0000000000000000", testSecret, good, "authorization_code"), errInvalidAppID},
		{"secret missing", http.MethodGet, sessionURL(testAppID, "", good, "authorization_code"), errAppSecretMissing},
		{"wrong secret", http.MethodGet, sessionURL(testAppID, "nope", good, "authorization_code"), errInvalidAppSecret},
		{"grant_type missing", http.MethodGet, sessionURL(testAppID, testSecret, good, ""), errInvalidGrantType},
		{"wrong grant_type", http.MethodGet, sessionURL(testAppID, testSecret, good, "client_credential"), errInvalidGrantType},
		{"js_code missing", http.MethodGet, sessionURL(testAppID, testSecret, "", "authorization_code"), errCodeMissing},
		{"unknown code", http.MethodGet, sessionURL(testAppID, testSecret, "0716AVll20uHk94SLDml27etM946AVlq", "authorization_code"), errInvalidCode},
		{"parameters posted as a form", http.MethodPost, PathJSCode2Session, errAppIDMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, tt.method, tt.target, nil)
			if r.status != http.StatusOK {
				t.Errorf("HTTP status = %d, want 200 like WeChat", r.status)
			}
			if got := r.errcode(); got != tt.want {
				t.Errorf("errcode = %d (%v), want %d", got, r.body, tt.want)
			}
			if msg := r.str("errmsg"); !strings.Contains(msg, "rid: ") {
				t.Errorf("errmsg %q lacks WeChat's rid suffix", msg)
			}
		})
	}
	// None of the failures above may have consumed the good code.
	r := do(t, s, http.MethodGet, sessionURL(testAppID, testSecret, good, "authorization_code"), nil)
	if r.errcode() != 0 {
		t.Errorf("good code after failed attempts answered %v", r.body)
	}
}

func TestJSCode2SessionRedeemsACodeOnlyOnce(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	code := s.Code("alice")
	target := sessionURL(testAppID, testSecret, code, "authorization_code")

	first := do(t, s, http.MethodGet, target, nil)
	if first.errcode() != 0 || first.str("openid") != s.OpenID("alice") {
		t.Fatalf("first redemption answered %v, want alice's openid", first.body)
	}
	if again := do(t, s, http.MethodGet, target, nil); again.errcode() != errCodeBeenUsed {
		t.Errorf("second redemption errcode = %d, want %d code been used", again.errcode(), errCodeBeenUsed)
	}
}

func TestJSCode2SessionRejectsCodesFiveMinutesOld(t *testing.T) {
	tests := []struct {
		age  time.Duration
		want int
	}{
		{0, 0},
		{5*time.Minute - time.Second, 0},
		{5 * time.Minute, errInvalidCode},
		{time.Hour, errInvalidCode},
	}
	for _, tt := range tests {
		t.Run(tt.age.String(), func(t *testing.T) {
			s, clock := newTestServer(t, Config{})
			code := s.Code("alice")
			clock.Advance(tt.age)
			r := do(t, s, http.MethodGet, sessionURL(testAppID, testSecret, code, "authorization_code"), nil)
			if r.errcode() != tt.want {
				t.Errorf("errcode = %d, want %d", r.errcode(), tt.want)
			}
		})
	}
}

func TestJSCode2SessionIssuesAFreshSessionKeyOnEveryLogin(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	seen := map[string]bool{}
	var last string
	for range 3 {
		key := login(t, s, "alice").str("session_key")
		raw, err := base64.StdEncoding.DecodeString(key)
		if err != nil || len(raw) != 16 {
			t.Fatalf("session_key %q is not 16 bytes of base64 (err %v)", key, err)
		}
		if seen[key] {
			t.Fatalf("session_key %q was handed out twice", key)
		}
		seen[key] = true
		last = key
	}
	if got := s.SessionKey("alice"); got != last {
		t.Errorf("SessionKey = %q, want the latest %q", got, last)
	}
	if got := s.SessionKeys("alice"); len(got) != 3 || got[2] != last {
		t.Errorf("SessionKeys = %v, want 3 keys ending with the latest", got)
	}
	if got := s.SessionKey("bob"); got != "" {
		t.Errorf("SessionKey of a user who never logged in = %q, want empty", got)
	}
}

func TestSessionKeyHistoryKeepsOnlyTheLastEight(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	for range 11 {
		login(t, s, "alice")
	}
	keys := s.SessionKeys("alice")
	if len(keys) != sessionKeyHistory {
		t.Fatalf("kept %d session_keys, want %d", len(keys), sessionKeyHistory)
	}
	if keys[len(keys)-1] != s.SessionKey("alice") {
		t.Errorf("history does not end with the latest key")
	}
}

func TestJSCode2SessionIncludesUnionIDOnlyWhenConfigured(t *testing.T) {
	for _, withUnion := range []bool{false, true} {
		s, _ := newTestServer(t, Config{UnionID: withUnion})
		r := login(t, s, "alice")
		_, present := r.body["unionid"]
		if present != withUnion {
			t.Errorf("UnionID=%v: unionid present = %v (%v)", withUnion, present, r.body)
		}
		if withUnion && r.str("unionid") != s.UnionID("alice") {
			t.Errorf("unionid = %q, want UnionID(alice) = %q", r.str("unionid"), s.UnionID("alice"))
		}
	}
}

func TestACodeMintedWithAnErrcodeAnswersItOnceThenCountsAsUsed(t *testing.T) {
	for _, errcode := range []int{errCodeBlocked, errMinuteQuota, errSystemBusy} {
		s, _ := newTestServer(t, Config{})
		target := sessionURL(testAppID, testSecret, s.FailingCode("mallory", errcode), "authorization_code")
		if got := do(t, s, http.MethodGet, target, nil).errcode(); got != errcode {
			t.Errorf("code minted with %d answered %d", errcode, got)
		}
		if got := do(t, s, http.MethodGet, target, nil).errcode(); got != errCodeBeenUsed {
			t.Errorf("code minted with %d, redeemed again, answered %d; want %d", errcode, got, errCodeBeenUsed)
		}
		if s.SessionKey("mallory") != "" {
			t.Errorf("a failing code gave mallory a session_key")
		}
	}
}

func TestIdentitiesLookLikeWeChatsAndAreStable(t *testing.T) {
	a, _ := newTestServer(t, Config{})
	b, _ := newTestServer(t, Config{AppID: "wx99999999999999ff"})
	tests := []struct {
		name      string
		got, same string
		differ    []string
	}{
		{"openid", a.OpenID("alice"), a.OpenID("alice"), []string{a.OpenID("bob"), b.OpenID("alice")}},
		{"unionid", a.UnionID("alice"), b.UnionID("alice"), []string{a.UnionID("bob"), a.OpenID("alice")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.got) != 28 || !strings.HasPrefix(tt.got, "o") {
				t.Errorf("%s %q: want 28 characters starting with o", tt.name, tt.got)
			}
			if strings.Trim(tt.got, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
				t.Errorf("%s %q has characters WeChat ids do not", tt.name, tt.got)
			}
			if tt.got != tt.same {
				t.Errorf("%s not stable: %q vs %q", tt.name, tt.got, tt.same)
			}
			for _, d := range tt.differ {
				if d == tt.got {
					t.Errorf("%s %q collides with another identity", tt.name, tt.got)
				}
			}
		})
	}
}

func TestDocumentedSignatureExamplesMatchTheTestsRenderings(t *testing.T) {
	// Examples from WeChat's "用户登录态签名" and "开放数据校验与解密" pages. They pin
	// down that the HMAC key is the session_key's base64 text, not its bytes.
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"hmac_sha256 login-state signature",
			sessionSignature("o0q0otL8aEzpcZL/FT9WsQ==", `{"foo":"bar"}`),
			"654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b"},
		{"sha1 rawData signature",
			rawDataSignature(`{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}`, "HyVFkGl5F5OQWJZZaNzBBg=="),
			"75e81ceda165f4ffa64f4068af58c64b8f54b88c"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %s, want %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestCheckSessionAcceptsOnlyTheLatestSessionKeysSignature(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	old := login(t, s, "alice").str("session_key")
	latest := login(t, s, "alice").str("session_key")
	tok := mustToken(t, stableToken(t, s, false))
	openid := s.OpenID("alice")

	tests := []struct {
		name                        string
		token, openid, sig, sigMeth string
		want                        int
	}{
		{"latest key signs the empty string", tok, openid, sessionSignature(latest, ""), "hmac_sha256", 0},
		{"uppercase hex", tok, openid, strings.ToUpper(sessionSignature(latest, "")), "hmac_sha256", errInvalidSignature},
		{"older session_key", tok, openid, sessionSignature(old, ""), "hmac_sha256", errInvalidSignature},
		{"key bytes instead of base64 text", tok, openid, sessionSignature(string(mustDecode(t, latest)), ""), "hmac_sha256", errInvalidSignature},
		{"non-empty message", tok, openid, sessionSignature(latest, "x"), "hmac_sha256", errInvalidSignature},
		{"openid that never logged in", tok, s.OpenID("bob"), sessionSignature(latest, ""), "hmac_sha256", errInvalidSignature},
		{"openid missing", tok, "", sessionSignature(latest, ""), "hmac_sha256", errInvalidOpenID},
		{"sig_method not supported", tok, openid, sessionSignature(latest, ""), "sha1", errInvalidArgs},
		{"access_token missing", "", openid, sessionSignature(latest, ""), "hmac_sha256", errAccessTokenMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"access_token": {tt.token}, "openid": {tt.openid}, "signature": {tt.sig}, "sig_method": {tt.sigMeth}}
			r := do(t, s, http.MethodGet, PathCheckSession+"?"+q.Encode(), nil)
			if r.errcode() != tt.want {
				t.Errorf("errcode = %d (%v), want %d", r.errcode(), r.body, tt.want)
			}
			if tt.want == 0 && r.str("errmsg") != "ok" {
				t.Errorf("errmsg = %q, want ok", r.str("errmsg"))
			}
		})
	}
}

func TestCheckSessionAlsoReadsAPostedJSONBody(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	key := login(t, s, "alice").str("session_key")
	tok := mustToken(t, stableToken(t, s, false))
	r := do(t, s, http.MethodPost, PathCheckSession+"?access_token="+url.QueryEscape(tok), map[string]string{
		"openid": s.OpenID("alice"), "signature": sessionSignature(key, ""), "sig_method": "hmac_sha256",
	})
	if r.errcode() != 0 {
		t.Errorf("checksession with a JSON body answered %v", r.body)
	}
}

func mustDecode(t *testing.T, b64 string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("decoding %q: %v", b64, err)
	}
	return b
}
