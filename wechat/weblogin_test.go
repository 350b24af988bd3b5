package wechat

import (
	"context"
	"net/http"
	"net/url"
	"testing"
)

func TestAuthorizeURLIsTheDocumentedLinkForEachKindOfAccount(t *testing.T) {
	tests := []struct {
		name, base, scope, want string
	}{
		{"an official account, silent", "", ScopeBase,
			"https://open.weixin.qq.com/connect/oauth2/authorize?appid=wxOA&redirect_uri=https%3A%2F%2Fh5.example%2Fwx%2Foauth%2Fcallback&response_type=code&scope=snsapi_base&state=abc123#wechat_redirect"},
		{"an official account, with consent", "http://127.0.0.1:9090/", ScopeUserInfo,
			"http://127.0.0.1:9090/connect/oauth2/authorize?appid=wxOA&redirect_uri=https%3A%2F%2Fh5.example%2Fwx%2Foauth%2Fcallback&response_type=code&scope=snsapi_userinfo&state=abc123#wechat_redirect"},
		{"a website's QR login", "", ScopeLogin,
			"https://open.weixin.qq.com/connect/qrconnect?appid=wxOA&redirect_uri=https%3A%2F%2Fh5.example%2Fwx%2Foauth%2Fcallback&response_type=code&scope=snsapi_login&state=abc123#wechat_redirect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AuthorizeURL(tc.base, "wxOA", "https://h5.example/wx/oauth/callback", tc.scope, "abc123"); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestExchangeWebCodeSendsTheDocumentedQueryAndKeepsOnlyWhoTheUserIs(t *testing.T) {
	var got url.Values
	var path string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		path, got = r.URL.Path, r.URL.Query()
		// WeChat labels these answers text/plain.
		reply(w, "text/plain", `{"access_token":"WEBTOKEN","expires_in":7200,"refresh_token":"REFRESH","openid":"oOA1","scope":"snsapi_userinfo","unionid":"uU1"}`)
	})
	user, err := c.ExchangeWebCode(context.Background(), "CODE1")
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"appid": {testAppID}, "secret": {testSecret}, "code": {"CODE1"}, "grant_type": {"authorization_code"}}
	if path != "/sns/oauth2/access_token" || got.Encode() != want.Encode() {
		t.Errorf("sent %s?%s, want /sns/oauth2/access_token?%s", path, got.Encode(), want.Encode())
	}
	if *user != (WebUser{OpenID: "oOA1", UnionID: "uU1", Scope: ScopeUserInfo}) {
		t.Errorf("got %+v", *user)
	}
}

func TestExchangeWebCodeAnswers(t *testing.T) {
	tests := []struct {
		name, body string
		want       *WebUser
		errcode    int // 0: no APIError expected
		wantErr    bool
	}{
		{"a snapshot-page visitor", `{"access_token":"T","openid":"oVirtual","scope":"snsapi_base","is_snapshotuser":1}`,
			&WebUser{OpenID: "oVirtual", Scope: ScopeBase, SnapshotUser: true}, 0, false},
		{"an invalid code", `{"errcode":40029,"errmsg":"invalid code"}`, nil, CodeInvalidCode, true},
		{"a used code", `{"errcode":40163,"errmsg":"code been used"}`, nil, CodeCodeUsed, true},
		{"an answer without an openid", `{"access_token":"T","scope":"snsapi_base"}`, nil, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { reply(w, "text/plain", tc.body) })
			user, err := c.ExchangeWebCode(context.Background(), "CODE")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tc.wantErr)
			}
			if tc.errcode != 0 && !IsCode(err, tc.errcode) {
				t.Errorf("err = %v, want errcode %d", err, tc.errcode)
			}
			if tc.want != nil && *user != *tc.want {
				t.Errorf("got %+v, want %+v", *user, *tc.want)
			}
		})
	}
}
