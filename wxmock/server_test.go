package wxmock

import (
	"bytes"
	"encoding/json"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestEachAPILabelsItsAnswersWithTheContentTypeWeChatSends(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	key := login(t, s, "alice").str("session_key")

	tests := []struct {
		name   string
		fault  int // injected with Fail on path before the call, when non-zero
		path   string
		method string
		target string
		body   string
		want   string
	}{
		{name: "jscode2session success is text/plain", path: PathJSCode2Session, method: http.MethodGet,
			target: sessionURL(testAppID, testSecret, s.Code("alice"), "authorization_code"), want: "text/plain"},
		{name: "jscode2session error is text/plain", path: PathJSCode2Session, method: http.MethodGet,
			target: sessionURL(testAppID, testSecret, "0716AVll20uHk94SLDml27etM946AVlq", "authorization_code"), want: "text/plain"},
		{name: "jscode2session injected fault is text/plain", fault: errSystemBusy, path: PathJSCode2Session, method: http.MethodGet,
			target: sessionURL(testAppID, testSecret, s.Code("alice"), "authorization_code"), want: "text/plain"},
		{name: "stable_token is application/json", path: PathStableToken, method: http.MethodPost, target: PathStableToken,
			body: `{"grant_type":"client_credential","appid":"` + testAppID + `","secret":"` + testSecret + `"}`, want: "application/json"},
		{name: "stable_token error is application/json", path: PathStableToken, method: http.MethodGet, target: PathStableToken,
			want: "application/json"},
		{name: "token is application/json", path: PathToken, method: http.MethodGet,
			target: PathToken + "?grant_type=client_credential&appid=" + testAppID + "&secret=" + testSecret, want: "application/json"},
		{name: "getuserphonenumber is application/json", path: PathGetUserPhoneNumber, method: http.MethodPost,
			target: phoneURL(tok), body: `{"code":"` + s.PhoneCode("alice", "13800138000") + `"}`, want: "application/json"},
		{name: "checksession is application/json", path: PathCheckSession, method: http.MethodGet,
			target: PathCheckSession + "?" + url.Values{"access_token": {tok}, "openid": {s.OpenID("alice")},
				"signature": {sessionSignature(key, "")}, "sig_method": {"hmac_sha256"}}.Encode(),
			want: "application/json"},
		{name: "msg_sec_check is application/json", path: PathMsgSecCheck, method: http.MethodPost, target: withToken(PathMsgSecCheck, tok),
			body: `{"content":"hi","version":2,"scene":1,"openid":"` + s.OpenID("alice") + `"}`, want: "application/json"},
		{name: "getwxacodeunlimit success is the image, image/jpeg", path: PathGetWXACodeUnlimit, method: http.MethodPost,
			target: withToken(PathGetWXACodeUnlimit, tok), body: `{"scene":"a=1"}`, want: "image/jpeg"},
		{name: "getwxacodeunlimit error is application/json", path: PathGetWXACodeUnlimit, method: http.MethodPost,
			target: withToken(PathGetWXACodeUnlimit, tok), body: `{"page":"pages/index/index"}`, want: "application/json"},
		{name: "getwxacodeunlimit injected fault is application/json", fault: errInvalidCredential, path: PathGetWXACodeUnlimit, method: http.MethodPost,
			target: withToken(PathGetWXACodeUnlimit, tok), body: `{"scene":"a=1"}`, want: "application/json"},
		{name: "media/upload is application/json", path: PathMediaUpload, method: http.MethodPost,
			target: withToken(PathMediaUpload, tok, "type", "image"), want: "application/json"},
		{name: "getcallbackip is application/json", path: PathGetCallbackIP, method: http.MethodGet,
			target: withToken(PathGetCallbackIP, tok), want: "application/json"},
		{name: "sns/oauth2/access_token success is text/plain", path: PathOAuthAccessToken, method: http.MethodGet,
			target: exchangeURL(testAppID, testSecret, s.OAuthCode("alice", ScopeUserInfo), "authorization_code"), want: "text/plain"},
		{name: "sns/oauth2/access_token error is text/plain", path: PathOAuthAccessToken, method: http.MethodGet,
			target: exchangeURL(testAppID, testSecret, "nope", "authorization_code"), want: "text/plain"},
		{name: "sns/oauth2/access_token injected fault is text/plain", fault: errSystemBusy, path: PathOAuthAccessToken, method: http.MethodGet,
			target: exchangeURL(testAppID, testSecret, "nope", "authorization_code"), want: "text/plain"},
		{name: "sns/userinfo is text/plain", path: PathSNSUserInfo, method: http.MethodGet,
			target: PathSNSUserInfo + "?access_token=nope&openid=x&lang=zh_CN", want: "text/plain"},
		{name: "subscribe/send is application/json", path: PathSubscribeSend, method: http.MethodPost, target: withToken(PathSubscribeSend, tok),
			body: `{"touser":"` + s.OpenID("alice") + `","template_id":"t","data":{"thing1":{"value":"x"}}}`, want: "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fault != 0 {
				s.Fail(tt.path, tt.fault, 1)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, bytes.NewBufferString(tt.body)))
			if got := rec.Header().Get("Content-Type"); got != tt.want {
				t.Errorf("Content-Type = %q, want %q", got, tt.want)
			}
			if tt.want == "image/jpeg" {
				if _, err := jpeg.DecodeConfig(rec.Body); err != nil {
					t.Errorf("body is not a JPEG: %v", err)
				}
				return
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Errorf("body %q is not JSON; WeChat's labels change, its bodies do not", rec.Body.String())
			}
		})
	}
}
