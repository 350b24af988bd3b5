package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wxauth/caddy-wxauth/internal/proctest"
	"github.com/wxauth/caddy-wxauth/internal/redistest"
)

func TestPathsAnUpstreamMayReadDifferentlyNeverPassAsPublicNorPastRequirePhone(t *testing.T) {
	w := newWorld(t, "") // public /health /public/*, require_phone /vip/*
	tok := w.login(t, "alice")
	get := func(target, token string) (response, bool) {
		before := len(w.upstream.requests())
		req := "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
		if token != "" {
			req += "Authorization: Bearer " + token + "\r\n"
		}
		r := raw(t, w.caddy.URL, req+"\r\n")
		return r, len(w.upstream.requests()) > before
	}
	if r, reached := get("/public/app.js", ""); r.Status != http.StatusOK || !reached {
		t.Fatalf("a plain public path: %d, upstream reached %v", r.Status, reached)
	}
	for _, target := range []string{
		"/public/..;/api/x", `/public/..\api\x`, "/public/%2e%2e%5capi", "/public/%252e%252e/api/x",
		"/public/..%00/api", "/public/..%3b/api/x", "/public/%5c..%5c..%5capi",
		"/api/../public/x", "/api/%2e%2e/public/x", "/api%2f..%2fpublic/x", "/public/%252e%252e/api/x%25zz",
	} {
		t.Run("public "+target, func(t *testing.T) {
			r, reached := get(target, "")
			if reached || r.Status < 400 {
				t.Fatalf("without a token: %d, upstream reached %v; want a refusal", r.Status, reached)
			}
		})
	}
	if r, reached := get("/shop/offers", tok); r.Status != http.StatusOK || !reached {
		t.Fatalf("a plain protected path with a token: %d, upstream reached %v", r.Status, reached)
	}
	for _, target := range []string{"/vip;/offers", `/vip\offers`, "/vip%5coffers", "/vip%00/offers", "/vip%3b/offers", "/shop/..;/vip/offers", "/vip/../x", "/vip%252foffers%25"} {
		t.Run("require_phone "+target, func(t *testing.T) {
			r, reached := get(target, tok)
			if reached || r.Status < 400 {
				t.Fatalf("without a phone: %d, upstream reached %v; want a refusal", r.Status, reached)
			}
		})
	}
}

func TestTheEndpointsAcceptAFormBodyAsCurlDashDSendsIt(t *testing.T) {
	w := newWorld(t, "")
	form := func(path, token string, fields url.Values) response {
		return doAs(t, "POST", w.caddy.URL+path, token, "application/x-www-form-urlencoded", fields.Encode())
	}
	login := form("/wx/login", "", url.Values{"code": {w.mock.Code("alice")}})
	if login.Status != http.StatusOK {
		t.Fatalf("form login: %d %s", login.Status, login.Body)
	}
	tok, _ := login.JSON(t)["token"].(string)
	phone := form("/wx/phone", tok, url.Values{"code": {w.mock.PhoneCode("alice", "13800138000")}})
	if phone.Status != http.StatusOK || phone.JSON(t)["phone_number"] != "13800138000" {
		t.Fatalf("form phone: %d %s", phone.Status, phone.Body)
	}
	twice := form("/wx/login", "", url.Values{"code": {w.mock.Code("bob"), w.mock.Code("bob")}})
	wantError(t, twice, http.StatusBadRequest, "invalid_request")
}

// runCaddyProcess runs caddyfile and waits until readyURL answers 200: for
// tests whose Caddy cannot answer the JWKS yet.
func runCaddyProcess(t *testing.T, caddyfile, readyURL string) *proctest.Process {
	t.Helper()
	p := startCaddyProcess(t, caddyfile)
	p.WaitOK(t, readyURL)
	return p
}

func TestCaddyStartsAndValidatesWithRedisDownAndServesOnceItIsBack(t *testing.T) {
	srv := redistest.StartServer(t)
	srv.Stop()
	w := newWorld(t, "")
	port := proctest.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	config := fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
}

%s {
	wxauth {
		app_id %s
		app_secret {env.WX_SECRET}
		api_base %s
		%s
		public /health
	}
	reverse_proxy %s
}
`, base, testAppID, w.wechat.URL, redisStore(t, srv.URL()), strings.TrimPrefix(w.upstream.URL, "http://"))
	if out, ok := runCaddyCommand(t, config, "Caddyfile", "validate", "--adapter", "caddyfile"); !ok {
		t.Fatalf("caddy validate needs Redis:\n%s", out)
	}
	runCaddyProcess(t, config, base+"/health")
	wantError(t, do(t, "POST", base+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, w.mock.Code("alice"))), 503, "store_unavailable")
	wantError(t, do(t, "GET", base+"/api/me", "", ""), 401, "unauthorized")

	srv.Start()
	var tok string
	waitFor(t, 10*time.Second, "login works once Redis is up", func() bool {
		r := do(t, "POST", base+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, w.mock.Code("alice")))
		tok, _ = r.JSON(t)["token"].(string)
		return r.Status == http.StatusOK
	})
	if r := do(t, "GET", base+"/api/me", tok, ""); r.Status != http.StatusOK {
		t.Fatalf("after Redis came back: %d %s", r.Status, r.Body)
	}
}

func TestTheJWKSIsServedFromMemoryWhileRedisIsDown(t *testing.T) {
	srv := redistest.StartServer(t)
	w := newWorld(t, redisStore(t, srv.URL()))
	w.login(t, "alice")
	before := do(t, "GET", w.caddy.URL+"/wx/.well-known/jwks.json", "", "")
	srv.Stop()
	during := do(t, "GET", w.caddy.URL+"/wx/.well-known/jwks.json", "", "")
	if during.Status != http.StatusOK || string(during.Body) != string(before.Body) {
		t.Fatalf("JWKS during the outage: %d %s; before: %s", during.Status, during.Body, before.Body)
	}
}

func TestAWrongAppSecretIsLoggedOnceAtErrorNamingTheSettings(t *testing.T) {
	w := newWorld(t, "")
	for range 3 {
		code := w.mock.Code("alice")
		w.mock.Fail("/sns/jscode2session", 40125, 1)
		wantError(t, do(t, "POST", w.caddy.URL+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, code)), 502, "upstream_error")
	}
	const line = "check app_id and app_secret"
	log := w.caddy.logSoFar(t)
	if n := strings.Count(log, line); n != 1 {
		t.Fatalf("%d log lines say %q, want 1:\n%s", n, line, log)
	}
	if strings.Contains(log, testSecret) {
		t.Fatal("the log holds the AppSecret")
	}
}

func TestLoadWarnsAboutAnEvictingRedisAndAPlainHTTPAPIBase(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.ConfigSet(t.Context(), "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	c := startCaddy(t, siteConfig{
		WeChatURL: "http://wechat.internal.example:8080",
		Upstream:  "127.0.0.1:9",
		Extra:     redisStore(t, srv.URL()),
	})
	for _, warning := range []string{"maxmemory-policy is not noeviction", "api_base is plain http://"} {
		c.WaitLog(t, fmt.Sprintf("the warning %q", warning), func(log string) bool { return strings.Contains(log, warning) })
	}
}

// reload makes c load its running config again with user_ttl set to n
// hours, so that Caddy really provisions its handlers anew.
func reload(t *testing.T, c *caddy, n int) {
	t.Helper()
	config := adaptedConfig(t, c)
	changed := strings.Replace(config, `"handler":"wxauth"`, fmt.Sprintf(`"handler":"wxauth","user_ttl":%d`, n*int(time.Hour)), 1)
	resp, err := http.Post(c.Admin+"/load", "application/json", strings.NewReader(changed))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %d", resp.StatusCode)
	}
}

func TestAfterRedisLosesItsDataEveryInstanceKeepsVerifyingEveryToken(t *testing.T) {
	srv := redistest.StartServer(t)
	cfg := redisStore(t, srv.URL())
	w := newWorld(t, cfg)
	a, b := w.caddy, w.another(t, cfg)
	old := []string{w.loginVia(t, a, "alice"), w.loginVia(t, b, "bob")}

	srv.Stop()
	srv.Start() // empty, as a Redis without persistence comes back
	reload(t, b, 1)
	c := w.another(t, cfg) // knows nothing but what the empty store says

	verifies := func(c *caddy, tok string) bool {
		return do(t, "GET", c.URL+"/api/me", tok, "").Status == http.StatusOK
	}
	for _, tok := range old {
		for name, inst := range map[string]*caddy{"a": a, "b (reloaded)": b} {
			if !verifies(inst, tok) {
				t.Fatalf("a token issued before the data loss is refused on %s", name)
			}
		}
	}
	issued := old
	for i, inst := range []*caddy{a, b, c} {
		waitFor(t, 10*time.Second, fmt.Sprintf("instance %d issues a token after the data loss", i), func() bool {
			r := do(t, "POST", inst.URL+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, w.mock.Code("carol")))
			if r.Status != http.StatusOK {
				return false
			}
			tok, _ := r.JSON(t)["token"].(string)
			issued = append(issued, tok)
			return true
		})
	}
	for i, tok := range issued {
		for j, inst := range []*caddy{a, b, c} {
			waitFor(t, 15*time.Second, fmt.Sprintf("token %d verifies on instance %d", i, j), func() bool { return verifies(inst, tok) })
		}
	}
	// Once agreed, they stay agreed.
	for i, tok := range issued {
		for j, inst := range []*caddy{a, b, c} {
			if !verifies(inst, tok) {
				t.Fatalf("token %d is refused on instance %d", i, j)
			}
		}
	}
}
