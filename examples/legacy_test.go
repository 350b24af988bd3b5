package examples

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/proctest"
	"github.com/wxauth/caddy-wxauth/wxmock"
)

// forged are identity headers a client sends to pass as someone else. Go's
// client sends the underscore spellings as written; CGI, PHP and WSGI show
// them as HTTP_X_OPENID just like the real X-OpenID.
var forged = map[string]string{"X-OpenID": "forged", "X_OpenID": "forged", "X-Phone": "13000000000", "X_Phone": "13000000000"}

// legacyWorld is examples/legacy-upstreams/Caddyfile running with the Caddy
// built here against an in-process wxmock. Each test starts the backends it
// checks, with start.
type legacyWorld struct {
	mock      *wxmock.Server
	wechat    string // wxmock's URL
	upstreams []*legacyUpstream
	wxapi     string // the wxapi site, http://127.0.0.1:port
	// tokenCache is where the legacy PHP snippet caches the access_token it
	// fetches itself (WX_TOKEN_CACHE).
	tokenCache string
}

type legacyUpstream struct {
	name          string
	site, backend string // host:port of its Caddy site and of the backend
	tool          string // the interpreter it needs
	cmd           func(backendPort int) *exec.Cmd
}

func startLegacyUpstreams(t *testing.T) *legacyWorld {
	t.Helper()
	mock := wxmock.New(wxmock.Config{AppID: testAppID, AppSecret: testSecret})
	wechat := httptest.NewServer(mock)
	t.Cleanup(wechat.Close)

	dir, err := filepath.Abs("legacy-upstreams")
	if err != nil {
		t.Fatal(err)
	}
	w := &legacyWorld{mock: mock, wechat: wechat.URL, wxapi: fmt.Sprintf("http://127.0.0.1:%d", proctest.FreePort(t)),
		tokenCache: filepath.Join(t.TempDir(), "wx_access_token.json")}
	// What the backends read: the wxapi site, and for the legacy PHP
	// snippet the credentials it still sends to cgi-bin/token.
	backendEnv := append(os.Environ(), "WXAPI_URL="+w.wxapi)
	w.upstreams = []*legacyUpstream{
		{name: "php", tool: "php-cgi", cmd: func(port int) *exec.Cmd {
			// FastCGI, as php-fpm speaks it: Caddy's php_fastcgi in front.
			c := exec.Command("php-cgi", "-b", fmt.Sprintf("127.0.0.1:%d", port))
			c.Env = append(backendEnv, "WX_APPID="+testAppID, "WX_SECRET="+testSecret, "WX_TOKEN_CACHE="+w.tokenCache)
			return c
		}},
		{name: "node", tool: "node", cmd: func(port int) *exec.Cmd {
			c := exec.Command("node", filepath.Join(dir, "node/server.js"))
			c.Env = append(backendEnv, fmt.Sprintf("PORT=%d", port))
			return c
		}},
		{name: "python", tool: "python3", cmd: func(port int) *exec.Cmd {
			c := exec.Command("python3", filepath.Join(dir, "python/app.py"), fmt.Sprint(port))
			c.Env = backendEnv
			return c
		}},
	}
	env := []string{"WX_API_BASE=" + wechat.URL, "PHP_ROOT=" + filepath.Join(dir, "php"), "WXAPI_SITE=" + strings.TrimPrefix(w.wxapi, "http://")}
	for _, u := range w.upstreams {
		u.site = fmt.Sprintf("127.0.0.1:%d", proctest.FreePort(t))
		u.backend = fmt.Sprintf("127.0.0.1:%d", proctest.FreePort(t))
		up := strings.ToUpper(u.name)
		backendVar := up + "_UPSTREAM"
		if u.name == "php" {
			backendVar = "PHP_FASTCGI"
		}
		env = append(env, up+"_SITE="+u.site, backendVar+"="+u.backend)
	}
	startCaddy(t, "legacy-upstreams/Caddyfile", caddyEnv(t, env...), "http://"+w.upstreams[1].site)
	return w
}

// start starts u's backend for t, or skips t when its interpreter is not
// installed.
func (w *legacyWorld) start(t *testing.T, u *legacyUpstream) {
	t.Helper()
	if _, err := exec.LookPath(u.tool); err != nil {
		t.Skipf("%s not on PATH: install it to run the %s example (Debian: php-cgi, nodejs, python3)", u.tool, u.name)
	}
	_, port, _ := strings.Cut(u.backend, ":")
	var p int
	fmt.Sscan(port, &p)
	startProcess(t, u.name, u.cmd(p)).WaitListening(t, u.backend, 15*time.Second)
}

func TestEachLegacyUpstreamSeesTheLoggedInOpenIDAndNeverAForgedOne(t *testing.T) {
	t.Parallel()
	w := startLegacyUpstreams(t)
	// One login serves all three sites: they share the memory store.
	token := login(t, "http://"+w.upstreams[1].site, w.mock.Code("alice"))
	for _, u := range w.upstreams {
		t.Run(u.name, func(t *testing.T) {
			w.start(t, u)
			site := "http://" + u.site
			if status, body := get(t, site+"/orders/42", "", nil); status != http.StatusUnauthorized {
				t.Fatalf("without a token: %d %s, want 401", status, body)
			}
			status, body := get(t, site+"/orders/42", token, forged)
			if status != http.StatusOK {
				t.Fatalf("with a token: %d %s", status, body)
			}
			var got struct{ Upstream, Path, OpenID string }
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("the %s upstream answered no JSON (%v): %s", u.name, err, body)
			}
			if got.Upstream != u.name || got.Path != "/orders/42" || got.OpenID != w.mock.OpenID("alice") {
				t.Fatalf("the %s upstream answered %s; want its name, path /orders/42 and openid %s", u.name, body, w.mock.OpenID("alice"))
			}
			if bytes.Contains(body, []byte("forged")) || bytes.Contains(body, []byte("13000000000")) {
				t.Fatalf("a forged identity header reached the %s upstream: %s", u.name, body)
			}
		})
	}
}

func TestEachLegacyUpstreamSendsASubscribeMessageThroughWxapiAndOldCodeGetsTheSharedToken(t *testing.T) {
	t.Parallel()
	w := startLegacyUpstreams(t)
	token := login(t, "http://"+w.upstreams[1].site, w.mock.Code("alice"))
	sends := 0
	for _, u := range w.upstreams {
		t.Run(u.name, func(t *testing.T) {
			w.start(t, u)
			paths := []string{"/notify"} // the snippet: wxapi, no token
			if u.name == "php" {
				paths = append(paths, "/notify-legacy") // old code: its own cgi-bin/token
			}
			for _, path := range paths {
				req, err := http.NewRequest("POST", "http://"+u.site+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+token)
				status, body := do(t, req)
				var got struct {
					Upstream string
					WeChat   struct {
						ErrCode int    `json:"errcode"`
						MsgID   int64  `json:"msgid"`
						ErrMsg  string `json:"errmsg"`
					} `json:"wechat"`
				}
				if status != http.StatusOK || json.Unmarshal(body, &got) != nil || got.Upstream != u.name || got.WeChat.ErrCode != 0 || got.WeChat.MsgID == 0 {
					t.Fatalf("POST %s: %d %s; want 200 and WeChat's answer with a msgid", path, status, body)
				}
				sends++
				msg, ok := sentMessage(w.mock, got.WeChat.MsgID)
				if !ok {
					t.Fatalf("POST %s answered msgid %d, which wxmock never sent (the 64-bit msgid must come through exactly): %s", path, got.WeChat.MsgID, body)
				}
				if msg.AppID != testAppID || msg.ToUser != w.mock.OpenID("alice") || msg.TemplateID != "order-shipped-template" ||
					msg.Data["thing1"] != "Order shipped" || msg.Page != "pages/index/index" {
					t.Fatalf("POST %s: wxmock received %+v; want the order-shipped message to alice of %s", path, msg, testAppID)
				}
			}
			if u.name == "php" {
				w.checkLegacyTokenIsShared(t)
			}
		})
	}
	if sends == 0 {
		return // every backend skipped
	}
	st := w.mock.Stats()
	if st.Calls[wxmock.PathSubscribeSend] != sends || len(w.mock.Sent()) != sends {
		t.Fatalf("%d sends reached WeChat %d times and %d were sent; want each once, at the first try", sends, st.Calls[wxmock.PathSubscribeSend], len(w.mock.Sent()))
	}
	// One token minted in all, by Caddy through stable_token: the legacy
	// code's cgi-bin/token never reached WeChat, whose every call would
	// have minted a new token and replaced the one everybody used.
	if st.TokensIssued["stable_token"] != 1 || st.TokensIssued["token"] != 0 || st.Calls[wxmock.PathToken] != 0 {
		t.Fatalf("WeChat minted tokens %v, cgi-bin/token was called %d times; want one token, through stable_token", st.TokensIssued, st.Calls[wxmock.PathToken])
	}
}

// checkLegacyTokenIsShared checks that the token the legacy PHP code fetched
// and cached is the one wxapi uses: the one wxapi's cgi-bin/token answers,
// and one that WeChat itself accepts.
func (w *legacyWorld) checkLegacyTokenIsShared(t *testing.T) {
	t.Helper()
	raw, err := os.ReadFile(w.tokenCache)
	if err != nil {
		t.Fatalf("the legacy PHP code cached no token: %v", err)
	}
	var cached struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(raw, &cached) != nil || cached.AccessToken == "" {
		t.Fatalf("the legacy PHP code cached %s", raw)
	}
	q := url.Values{"grant_type": {"client_credential"}, "appid": {testAppID}, "secret": {testSecret}}
	status, body := get(t, w.wxapi+"/cgi-bin/token?"+q.Encode(), "", nil)
	var shared struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &shared) != nil || shared.ExpiresIn <= 0 {
		t.Fatalf("wxapi's cgi-bin/token: %d %s", status, body)
	}
	if cached.AccessToken != shared.AccessToken {
		t.Fatal("the legacy code's token is not the one wxapi hands out")
	}
	status, body = get(t, w.wechat+wxmock.PathGetCallbackIP+"?access_token="+url.QueryEscape(cached.AccessToken), "", nil)
	if status != http.StatusOK || !bytes.Contains(body, []byte(`"ip_list"`)) {
		t.Fatalf("WeChat refuses the legacy code's token: %d %s", status, body)
	}
}

// sentMessage is the message wxmock sent with msgid.
func sentMessage(mock *wxmock.Server, msgid int64) (wxmock.SentMessage, bool) {
	for _, m := range mock.Sent() {
		if m.MsgID == msgid {
			return m, true
		}
	}
	return wxmock.SentMessage{}, false
}
