package wxmock

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// ridPattern is a WeChat request id: three groups of eight hex digits.
const ridPattern = `[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}`

func TestErrmsgsAreShapedLikeWeChatsForEachAPI(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	used := s.Code("alice")
	do(t, s, http.MethodGet, sessionURL(testAppID, testSecret, used, "authorization_code"), nil)

	tests := []struct {
		name   string
		fault  int // injected with Fail on path before the call, when non-zero
		path   string
		method string
		target string
		body   any
		want   string // the errmsg before the rid (or hint), as real answers have it
		hint   bool   // a "hint: [...]" comes between want and the rid
	}{
		{name: "jscode2session puts a comma before the rid", path: PathJSCode2Session, method: http.MethodGet,
			target: sessionURL(testAppID, testSecret, "0716AVll20uHk94SLDml27etM946AVlq", "authorization_code"),
			want:   `invalid code, rid: `},
		{name: "jscode2session code been used", path: PathJSCode2Session, method: http.MethodGet,
			target: sessionURL(testAppID, testSecret, used, "authorization_code"),
			want:   `code been used, rid: `},
		{name: "jscode2session wrong appid", path: PathJSCode2Session, method: http.MethodGet,
			target: sessionURL("wx0000000000000000", testSecret, "x", "authorization_code"),
			want:   `invalid appid, rid: `},
		{name: "jscode2session system error keeps its family's comma", fault: errSystemBusy, path: PathJSCode2Session, method: http.MethodGet,
			target: sessionURL(testAppID, testSecret, "x", "authorization_code"),
			want:   `system error, rid: `},
		{name: "stable_token has no comma before the rid", path: PathStableToken, method: http.MethodPost, target: PathStableToken,
			body: map[string]any{"grant_type": "client_credential", "appid": testAppID, "secret": "nope"},
			want: `invalid appsecret rid: `},
		{name: "stable_token with a form for a body misses its appid", path: PathStableToken, method: http.MethodPost, target: PathStableToken,
			body: "grant_type=client_credential&appid=" + testAppID, want: `appid missing rid: `},
		{name: "stable_token system error", fault: errSystemBusy, path: PathStableToken, method: http.MethodPost, target: PathStableToken,
			body: map[string]any{}, want: `system error rid: `},
		{name: "token daily quota", fault: errDailyQuota, path: PathToken, method: http.MethodGet,
			target: PathToken + "?grant_type=client_credential&appid=" + testAppID + "&secret=" + testSecret,
			want:   `reach max api daily quota limit rid: `},
		{name: "getuserphonenumber without access_token", path: PathGetUserPhoneNumber, method: http.MethodPost,
			target: PathGetUserPhoneNumber, body: map[string]string{"code": "x"},
			want: `access_token missing rid: `},
		{name: "getuserphonenumber with a replaced token", path: PathGetUserPhoneNumber, method: http.MethodPost,
			target: phoneURL("91_" + strings.Repeat("A", 40)), body: map[string]string{"code": "x"},
			want: `invalid credential, access_token is invalid or not latest rid: `},
		{name: "getuserphonenumber invalid code carries a hint", path: PathGetUserPhoneNumber, method: http.MethodPost,
			target: phoneURL(tok), body: map[string]string{"code": "e31968a7f94cc5ee25fafc2aef2773f0"},
			want: `invalid code `, hint: true},
		{name: "getuserphonenumber injected 40029 carries a hint too", fault: errInvalidCode, path: PathGetUserPhoneNumber, method: http.MethodPost,
			target: phoneURL(tok), body: map[string]string{"code": "x"},
			want: `invalid code `, hint: true},
		{name: "checksession invalid signature", path: PathCheckSession, method: http.MethodGet,
			target: PathCheckSession + "?access_token=" + tok + "&openid=" + s.OpenID("alice") + "&signature=00&sig_method=hmac_sha256",
			want:   `invalid signature rid: `},
		{name: "msg_sec_check follows the /wxa/ family", path: PathMsgSecCheck, method: http.MethodPost,
			target: withToken(PathMsgSecCheck, tok), body: map[string]any{"content": "x", "version": 2, "scene": 9},
			want: `invalid scene rid: `},
		{name: "getwxacodeunlimit without a scene", path: PathGetWXACodeUnlimit, method: http.MethodPost,
			target: withToken(PathGetWXACodeUnlimit, tok), body: map[string]any{"page": "pages/index/index"},
			want: `invalid length for scene, or the data is not json string rid: `},
		{name: "getwxacodeunlimit bad page", path: PathGetWXACodeUnlimit, method: http.MethodPost,
			target: withToken(PathGetWXACodeUnlimit, tok), body: map[string]any{"scene": "a", "page": "/pages/index/index"},
			want: `invalid page rid: `},
		{name: "media/upload follows the /cgi-bin/ family", path: PathMediaUpload, method: http.MethodPost,
			target: withToken(PathMediaUpload, tok), body: map[string]any{}, want: `invalid media type rid: `},
		{name: "media/upload without media", path: PathMediaUpload, method: http.MethodPost,
			target: withToken(PathMediaUpload, tok, "type", "image"), body: map[string]any{}, want: `media data missing rid: `},
		{name: "getcallbackip without a token", path: PathGetCallbackIP, method: http.MethodGet,
			target: PathGetCallbackIP, want: `access_token missing rid: `},
		{name: "subscribe/send without a template", path: PathSubscribeSend, method: http.MethodPost,
			target: withToken(PathSubscribeSend, tok), body: map[string]any{"touser": s.OpenID("alice")},
			want: `invalid template_id rid: `},
		{name: "an errcode the fake has no text for", fault: 61450, path: PathCheckSession, method: http.MethodGet,
			target: PathCheckSession, want: `wxmock injected error 61450 rid: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fault != 0 {
				s.Fail(tt.path, tt.fault, 1)
			}
			r := do(t, s, tt.method, tt.target, tt.body)
			if r.errcode() == 0 {
				t.Fatalf("answer %v, want an error", r.body)
			}
			pattern := "^" + regexp.QuoteMeta(tt.want) + ridPattern + "$"
			if tt.hint {
				pattern = "^" + regexp.QuoteMeta(tt.want) + `hint: \[[A-Za-z0-9_-]{9}-[A-Za-z0-9_-]{6}\] rid: ` + ridPattern + "$"
			}
			if msg := r.str("errmsg"); !regexp.MustCompile(pattern).MatchString(msg) {
				t.Errorf("errmsg = %q, want it to match %s", msg, pattern)
			}
		})
	}
}

func TestTheRequestIDStartsWithTheAnswersUnixTimeAndDiffersPerAnswer(t *testing.T) {
	s, clock := newTestServer(t, Config{})
	target := sessionURL(testAppID, testSecret, "0716AVll20uHk94SLDml27etM946AVlq", "authorization_code")
	wantPrefix := fmt.Sprintf("invalid code, rid: %08x-", clock.Now().Unix())

	seen := map[string]bool{}
	for range 3 {
		msg := do(t, s, http.MethodGet, target, nil).str("errmsg")
		if !strings.HasPrefix(msg, wantPrefix) {
			t.Errorf("errmsg = %q, want it to start with %q (the rid's first group is the time in hex)", msg, wantPrefix)
		}
		if seen[msg] {
			t.Errorf("errmsg %q was answered twice; every answer has its own rid", msg)
		}
		seen[msg] = true
	}
}
