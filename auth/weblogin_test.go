package auth

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wxauth/caddy-wxauth/wechat"
	"github.com/wxauth/caddy-wxauth/wxmock"
)

// pageCode is the code the fake WeChat's authorize page sends back for the
// login queued before it (what a browser would carry to the callback).
func (r *rig) pageCode(t *testing.T, state string) string {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(wechat.AuthorizeURL(r.wxURL, testAppID, "https://h5.example/wx/oauth/callback", wechat.ScopeUserInfo, state))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || back.Query().Get("code") == "" || back.Query().Get("state") != state {
		t.Fatalf("the authorize page answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return back.Query().Get("code")
}

func TestAWebLoginEndsWhereItStartedWithATokenForTheUser(t *testing.T) {
	r := newRig(t, rigOptions{mock: func(c *wxmock.Config) { c.UnionID = true }})
	start, err := r.svc.StartWebLogin("/orders?id=7")
	if err != nil {
		t.Fatal(err)
	}
	openid := r.mock.NextOAuthUser("bob")
	done, err := r.svc.FinishWebLogin(context.Background(), start.Cookie, start.State, r.pageCode(t, start.State))
	if err != nil {
		t.Fatal(err)
	}
	if done.ReturnTo != "/orders?id=7" || done.OpenID != openid || done.UnionID == "" || done.AppID != testAppID {
		t.Errorf("got return_to %q, openid %q (want %q), unionid %q, appid %q", done.ReturnTo, done.OpenID, openid, done.UnionID, done.AppID)
	}
	id, err := r.svc.Verify(context.Background(), done.Token)
	if err != nil || id.OpenID != openid || id.UnionID != done.UnionID {
		t.Errorf("the token verifies as %+v, %v", id, err)
	}
}

func TestAWebLoginIsRefusedBeforeWeChatOrTheStoreSeeAnything(t *testing.T) {
	r := newRig(t, rigOptions{})
	other := newRig(t, rigOptions{auth: func(c *Config) { c.SealKey = make([]byte, 32) }}) // another AppSecret
	start, err := r.svc.StartWebLogin("/")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.svc.StartWebLogin("/")
	if err != nil {
		t.Fatal(err)
	}
	code := r.mock.OAuthCode("bob", wxmock.ScopeBase)
	tamper := func(i int, value string) string {
		parts := strings.Split(start.Cookie, ".")
		parts[i] = value
		return strings.Join(parts, ".")
	}
	tests := []struct {
		name, cookie, state string
	}{
		{"no cookie", "", start.State},
		{"no state", start.Cookie, ""},
		{"another state", start.Cookie, strings.Repeat("0", 32)},
		{"another account's cookie", foreign.Cookie, foreign.State},
		{"a cookie whose return_to was changed", tamper(4, "Ly9ldmlsLmV4YW1wbGU"), start.State}, // //evil.example
		{"a cookie whose expiry was changed", tamper(3, "99999999999"), start.State},
		{"a cookie that is no cookie of ours", "v1." + testAppID + "." + start.State, start.State},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := r.mem.Len()
			_, err := r.svc.FinishWebLogin(context.Background(), tc.cookie, tc.state, code)
			wantCode(t, err, CodeInvalidRequest)
			if n := r.mock.Stats().Calls[wxmock.PathOAuthAccessToken]; n != 0 {
				t.Errorf("WeChat was asked %d times", n)
			}
			if r.mem.Len() != before {
				t.Errorf("the store grew from %d to %d keys", before, r.mem.Len())
			}
		})
	}
}

func TestAWebLoginStateIsSingleUseAndExpires(t *testing.T) {
	r := newRig(t, rigOptions{})
	start, _ := r.svc.StartWebLogin("/")
	if _, err := r.svc.FinishWebLogin(context.Background(), start.Cookie, start.State, r.mock.OAuthCode("bob", wxmock.ScopeBase)); err != nil {
		t.Fatal(err)
	}
	_, err := r.svc.FinishWebLogin(context.Background(), start.Cookie, start.State, r.mock.OAuthCode("bob", wxmock.ScopeBase))
	wantCode(t, err, CodeInvalidRequest)

	late, _ := r.svc.StartWebLogin("/")
	r.clock.Advance(WebStateTTL)
	_, err = r.svc.FinishWebLogin(context.Background(), late.Cookie, late.State, r.mock.OAuthCode("bob", wxmock.ScopeBase))
	wantCode(t, err, CodeInvalidRequest)
	if n := r.mock.Stats().Calls[wxmock.PathOAuthAccessToken]; n != 1 {
		t.Errorf("WeChat was asked %d times, want once (the first login)", n)
	}
}

func TestAWebLoginRefusesWhatWeChatRefusesAndLeavesNothingBehind(t *testing.T) {
	r := newRig(t, rigOptions{})
	tests := []struct {
		name string
		code func() string
		want string
	}{
		{"no code (the user declined)", func() string { return "" }, CodeInvalidRequest},
		{"a made-up code", func() string { return "not-a-code-of-wechat" }, CodeInvalidCode},
		{"a code that cannot be one", func() string { return "a b" }, CodeInvalidCode},
		{"a used code", func() string {
			c := r.mock.OAuthCode("bob", wxmock.ScopeBase)
			start, _ := r.svc.StartWebLogin("/")
			if _, err := r.svc.FinishWebLogin(context.Background(), start.Cookie, start.State, c); err != nil {
				t.Fatal(err)
			}
			return c
		}, CodeInvalidCode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code := tc.code()
			start, _ := r.svc.StartWebLogin("/")
			before := r.mem.Len()
			_, err := r.svc.FinishWebLogin(context.Background(), start.Cookie, start.State, code)
			wantCode(t, err, tc.want)
			if r.mem.Len() != before {
				t.Errorf("the store grew from %d to %d keys", before, r.mem.Len())
			}
		})
	}
}

func TestASnapshotPageVisitorGetsNoToken(t *testing.T) {
	r := newRig(t, rigOptions{})
	start, _ := r.svc.StartWebLogin("/")
	r.mock.NextOAuthSnapshot("carol")
	done, err := r.svc.FinishWebLogin(context.Background(), start.Cookie, start.State, r.pageCode(t, start.State))
	wantCode(t, err, CodeSnapshotUser)
	if done != nil {
		t.Errorf("got a login %+v", done)
	}
}

func TestCheckReturnToKeepsTheUserOnThisSite(t *testing.T) {
	tests := []struct {
		in, want string // want "" for refused
	}{
		{"", "/"},
		{"/", "/"},
		{"/orders?id=7&x=1", "/orders?id=7&x=1"},
		{"/a/b#section", "/a/b"},
		{"/路径", "/%E8%B7%AF%E5%BE%84"},
		{"/%2F%2Fevil.example", "/%2F%2Fevil.example"}, // stays a path
		{"/..//evil.example", "/..//evil.example"},     // a path on this host, whatever it resolves to
		{"//evil.example", ""},
		{"///evil.example", ""},
		{"/\\evil.example", ""},
		{"/\\/evil.example", ""},
		{"/a\\b", ""},
		{"/\t/evil.example", ""},
		{"/\n/evil.example", ""},
		{"/\r\nSet-Cookie: x=1", ""},
		{"https://evil.example/", ""},
		{"javascript:alert(1)", ""},
		{"evil.example", ""},
		{" /a", ""},
		{"/%zz", ""},
		{"/a?路 x", "/a?%E8%B7%AF%20x"},
		{"/%2Fevil.example/路", ""},           // re-encoded, the path would start with //
		{"/%2f%2fevil.example/é", ""},        // …or ///
		{"/" + strings.Repeat("路", 680), ""}, // 2 KiB sent, three times as much encoded
		{"/" + strings.Repeat("a", 2048), ""},
	}
	for _, tc := range tests {
		got, err := CheckReturnTo(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("CheckReturnTo(%q) = %q, want it refused", tc.in, got)
			} else {
				wantCode(t, err, CodeInvalidRequest)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("CheckReturnTo(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestStartWebLoginStateIsWhatWeChatsPagesAccept(t *testing.T) {
	r := newRig(t, rigOptions{})
	seen := map[string]bool{}
	for range 100 {
		start, err := r.svc.StartWebLogin("/")
		if err != nil {
			t.Fatal(err)
		}
		if len(start.State) != 32 || strings.Trim(start.State, "0123456789abcdef") != "" || seen[start.State] {
			t.Fatalf("state %q: want 32 fresh hex digits", start.State)
		}
		seen[start.State] = true
		if WebStateAppID(start.Cookie) != testAppID {
			t.Fatalf("WebStateAppID(%q) = %q", start.Cookie, WebStateAppID(start.Cookie))
		}
	}
}
