package examples

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/proctest"
	"github.com/wxauth/caddy-wxauth/internal/redistest"
	"github.com/wxauth/caddy-wxauth/wxmock"
)

// cloudRunForged are Cloud Run's identity headers as a client would forge
// them, in the spellings a Node backend reads as the real ones or close to.
var cloudRunForged = map[string]string{"X-WX-OPENID": "forged", "x_wx_openid": "forged", "X-WX-APPID": "wxforged", "X-WX-SOURCE": "forged"}

func TestTheCloudRunBackendRunsUnmodifiedBehindCaddy(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not on PATH: the Cloud Run example's backend is Node (Debian: nodejs)")
	}
	t.Parallel()
	redisURL := redistest.URL(t) // the Caddyfile keeps sessions and the token in Redis, as compose.yaml runs it
	mock := wxmock.New(wxmock.Config{AppID: testAppID, AppSecret: testSecret})
	wechat := httptest.NewServer(mock)
	t.Cleanup(wechat.Close)

	apiPort, wxapiPort, appPort := proctest.FreePort(t), proctest.FreePort(t), proctest.FreePort(t)
	site := fmt.Sprintf("http://127.0.0.1:%d", apiPort)

	// server.js as it runs on Cloud Run. The preload is the only help, and
	// stands in for what compose.yaml does with extra_hosts and Caddy's port
	// 80: it sends the backend's connections to api.weixin.qq.com:80 to the
	// wxapi site's port here. The requests themselves are server.js's own.
	node := exec.Command("node", "-r", "./testdata/api_weixin_qq_com.js", "cloudrun-migration/server.js")
	node.Env = append(os.Environ(), "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", appPort),
		fmt.Sprintf("API_WEIXIN_QQ_COM=127.0.0.1:%d", wxapiPort))
	startProcess(t, "node server.js", node).WaitListening(t, fmt.Sprintf("127.0.0.1:%d", appPort), 15*time.Second)

	// The Caddyfile compose.yaml mounts, with this test's ports and services.
	startCaddy(t, "cloudrun-migration/Caddyfile", caddyEnv(t,
		"LISTEN_HOST=127.0.0.1",
		fmt.Sprintf("API_PORT=%d", apiPort),
		fmt.Sprintf("WXAPI_PORT=%d", wxapiPort),
		fmt.Sprintf("APP_UPSTREAM=127.0.0.1:%d", appPort),
		fmt.Sprintf("CADDY_ADMIN=127.0.0.1:%d", proctest.FreePort(t)),
		"WX_API_BASE="+wechat.URL,
		"REDIS_URL="+redisURL,
		"WXAUTH_KEY_PREFIX="+redistest.Prefix(t),
	), site)

	if status, body := postCheck(t, site, "", "hello"); status != http.StatusUnauthorized {
		t.Fatalf("without a token: %d %s, want 401", status, body)
	}
	if n := mock.Stats().Calls[wxmock.PathMsgSecCheck]; n != 0 {
		t.Fatalf("a call without a token reached msg_sec_check (%d calls)", n)
	}

	token := login(t, site, mock.Code("alice"))
	for _, tc := range []struct {
		content, suggest string
		label            int
	}{
		{"Is the shop open on Sunday?", "pass", 100},
		{"a text with the word " + wxmock.DefaultRiskyWords[0] + " in it", "risky", 20006},
	} {
		t.Run(tc.suggest, func(t *testing.T) {
			before := mock.Stats().Calls[wxmock.PathMsgSecCheck]
			status, body := postCheck(t, site, token, tc.content)
			if status != http.StatusOK {
				t.Fatalf("POST /api/check: %d %s", status, body)
			}
			var got struct {
				OpenID, AppID, Suggest string
				Pass                   bool
				Label                  int
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("the backend answered no JSON (%v): %s", err, body)
			}
			// The backend read the caller from x-wx-openid, as on Cloud Run,
			// and not the forged one; msg_sec_check accepted that openid as
			// a user of the app, so it was the real one there too.
			if got.OpenID != mock.OpenID("alice") || got.AppID != testAppID {
				t.Fatalf("the backend saw openid %q, appid %q; want %q, %q (answer %s)", got.OpenID, got.AppID, mock.OpenID("alice"), testAppID, body)
			}
			if got.Suggest != tc.suggest || got.Label != tc.label || got.Pass != (tc.suggest == "pass") {
				t.Fatalf("msg_sec_check on %q: %s; want suggest %s, label %d", tc.content, body, tc.suggest, tc.label)
			}
			// Once: WeChat took the token wxapi put in at the first try.
			if n := mock.Stats().Calls[wxmock.PathMsgSecCheck] - before; n != 1 {
				t.Fatalf("msg_sec_check reached WeChat %d times for one check, want 1", n)
			}
		})
	}

	// wxapi refuses what its allow list leaves out, before WeChat sees it.
	status, body := callWxapi(t, wxapiPort, "/cgi-bin/message/subscribe/send", `{"touser":"`+mock.OpenID("alice")+`","template_id":"t","data":{"thing1":{"value":"x"}}}`)
	if status != http.StatusForbidden || !strings.Contains(string(body), `"errcode":85107`) {
		t.Fatalf("wxapi on a path outside allow: %d %s, want 403 errcode 85107", status, body)
	}

	// One access_token in all, minted for Caddy through stable_token (the
	// backend has no AppSecret to ask for one): the one msg_sec_check took.
	st := mock.Stats()
	if st.TokensIssued["stable_token"] != 1 || st.TokensIssued["token"] != 0 || st.Calls[wxmock.PathToken] != 0 {
		t.Fatalf("WeChat minted tokens %v (cgi-bin/token called %d times); want one, through stable_token", st.TokensIssued, st.Calls[wxmock.PathToken])
	}
	if n := st.Calls[wxmock.PathSubscribeSend]; n != 0 {
		t.Fatalf("a path outside wxapi's allow list reached WeChat (%d calls)", n)
	}
}

// postCheck POSTs {"content"} to the backend's /api/check through Caddy,
// with the token (if any) and forged Cloud Run identity headers.
func postCheck(t *testing.T, site, token, content string) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"content": content})
	req, err := http.NewRequest("POST", site+"/api/check", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range cloudRunForged {
		req.Header[k] = []string{v}
	}
	return do(t, req)
}

// callWxapi POSTs body to path on the wxapi site as the backend would:
// to http://api.weixin.qq.com, which is 127.0.0.1:port here.
func callWxapi(t *testing.T, port int, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d%s", port, path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "api.weixin.qq.com"
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

// Caddy's own calls to api.weixin.qq.com must reach WeChat once api_base is
// dropped, so only the backend's container may see the name as Caddy's: a
// network alias would send Caddy's calls back to Caddy.
func TestTheCloudRunComposeFilePointsTheBackendAloneAtCaddyForWeChatsAPIHost(t *testing.T) {
	checkComposeFile(t, "cloudrun-migration")
	raw, err := os.ReadFile("cloudrun-migration/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	services := composeServices(string(raw))
	caddy, app := services["caddy"], services["app"]
	if caddy == "" || app == "" {
		t.Fatalf("compose.yaml has no caddy or no app service: %q", services)
	}
	for name, block := range services {
		if name != "app" && strings.Contains(block, "api.weixin.qq.com") {
			t.Errorf("service %s names api.weixin.qq.com: only the backend may take it for Caddy", name)
		}
	}
	m := regexp.MustCompile(`(?m)^\s*ipv4_address:\s*(\S+)`).FindStringSubmatch(caddy)
	if m == nil {
		t.Fatal("the caddy service has no fixed ipv4_address for extra_hosts to name")
	}
	caddyIP, err := netip.ParseAddr(m[1])
	if err != nil {
		t.Fatalf("caddy's ipv4_address: %v", err)
	}
	h := regexp.MustCompile(`(?m)^\s*-\s*"?api\.weixin\.qq\.com[:=]([^"\s]+)"?\s*$`).FindStringSubmatch(app)
	if h == nil {
		t.Fatalf("the app service has no extra_hosts entry for api.weixin.qq.com")
	}
	if h[1] != caddyIP.String() {
		t.Fatalf("the app service's extra_hosts maps api.weixin.qq.com to %s, not to caddy's %s", h[1], caddyIP)
	}
	subnet := composePrefix(t, string(raw), "subnet")
	dynamic := composePrefix(t, string(raw), "ip_range")
	if !subnet.Contains(caddyIP) || dynamic.Contains(caddyIP) || !subnet.Contains(dynamic.Addr()) {
		t.Errorf("caddy's %s must be in the subnet %s and outside ip_range %s (the addresses handed to other containers), itself in the subnet", caddyIP, subnet, dynamic)
	}
	// wxapi's default allow_from: loopback and the private ranges.
	inside := false
	for _, r := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} {
		p := netip.MustParsePrefix(r)
		inside = inside || (p.Bits() <= subnet.Bits() && p.Contains(subnet.Addr()))
	}
	if !inside {
		t.Errorf("subnet %s is not inside a private range, so wxapi's default allow_from would refuse the backend", subnet)
	}
	if !regexp.MustCompile(`(?m)^\s*LISTEN_HOST:\s*"?0\.0\.0\.0"?\s*$`).MatchString(caddy) {
		t.Error("the caddy service does not set LISTEN_HOST: 0.0.0.0: Caddy would listen on the container's loopback, out of reach of the published port and the backend")
	}
	if regexp.MustCompile(`(?m)^\s*-\s*"?[^"\s]*:80"?\s*$`).MatchString(caddy) {
		t.Error("the caddy service publishes port 80, where wxapi answers: keep it internal")
	}
}

// composeServices splits a compose file's services section into each
// service's lines, by indentation.
func composeServices(compose string) map[string]string {
	out := map[string]string{}
	in, name := false, ""
	for line := range strings.Lines(compose) {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case !strings.HasPrefix(line, " "):
			in, name = trimmed == "services:", ""
		case in && strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   "):
			name = strings.TrimSuffix(trimmed, ":")
		case in && name != "":
			out[name] += line
		}
	}
	return out
}

// composePrefix is the one CIDR given as key (subnet, ip_range) in compose.
func composePrefix(t *testing.T, compose, key string) netip.Prefix {
	t.Helper()
	ms := regexp.MustCompile(`(?m)^\s*(?:-\s*)?`+key+`:\s*(\S+)`).FindAllStringSubmatch(compose, -1)
	if len(ms) != 1 {
		t.Fatalf("compose.yaml: want one %s, found %d", key, len(ms))
	}
	p, err := netip.ParsePrefix(ms[0][1])
	if err != nil {
		t.Fatalf("compose.yaml: %s: %v", key, err)
	}
	return p
}
