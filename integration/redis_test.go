package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wxauth/caddy-wxauth/internal/redistest"
)

// redisStore is the wxauth config of an instance on the test's Redis, under
// a key prefix of the test's own.
func redisStore(t *testing.T, url string) string {
	return fmt.Sprintf("store redis %s\n\t\tkey_prefix %s\n\t\tcache_ttl 200ms", url, redistest.Prefix(t))
}

func TestTwoInstancesOnOneRedisShareLoginsLogoutsAndKeys(t *testing.T) {
	cfg := redisStore(t, redistest.URL(t))
	w := newWorld(t, cfg)
	a, b := w.caddy, w.another(t, cfg)

	tok := w.loginVia(t, a, "alice")
	for _, c := range []*caddy{a, b} {
		if r := do(t, "GET", c.URL+"/api/me", tok, ""); r.Status != http.StatusOK {
			t.Fatalf("token from A on %s: %d %s", c.URL, r.Status, r.Body)
		}
		if got := w.upstream.last(t).Get("X-OpenID"); got != w.mock.OpenID("alice") {
			t.Fatalf("X-OpenID = %q", got)
		}
	}

	// A restart keeps every token valid: the signing key lives in Redis.
	a.Stop()
	a = w.another(t, cfg)
	if r := do(t, "GET", a.URL+"/api/me", tok, ""); r.Status != http.StatusOK {
		t.Fatalf("token after restarting A: %d %s", r.Status, r.Body)
	}

	// Logout on B is seen on A within cache_ttl (200ms here).
	if r := do(t, "POST", b.URL+"/wx/logout", tok, ""); r.Status != http.StatusNoContent {
		t.Fatalf("logout on B: %d %s", r.Status, r.Body)
	}
	waitFor(t, 5*time.Second, "A refuses the token logged out on B", func() bool {
		return do(t, "GET", a.URL+"/api/me", tok, "").Status == http.StatusUnauthorized
	})
	wantError(t, do(t, "GET", b.URL+"/api/me", tok, ""), 401, "unauthorized")
}

func TestAPhoneBoundOnOneInstanceReachesUpstreamThroughTheOther(t *testing.T) {
	cfg := redisStore(t, redistest.URL(t))
	w := newWorld(t, cfg)
	a, b := w.caddy, w.another(t, cfg)
	tok := w.loginVia(t, a, "alice")
	r := do(t, "POST", b.URL+"/wx/phone", tok, fmt.Sprintf(`{"code":%q}`, w.mock.PhoneCode("alice", "13800138000")))
	if r.Status != http.StatusOK {
		t.Fatalf("phone on B: %d %s", r.Status, r.Body)
	}
	waitFor(t, 5*time.Second, "A forwards the phone bound on B", func() bool {
		do(t, "GET", a.URL+"/vip/x", tok, "")
		return w.upstream.last(t).Get("X-Phone") == "13800138000"
	})
	// A returning user's login on the other instance knows the phone.
	login := do(t, "POST", a.URL+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, w.mock.Code("alice")))
	if login.JSON(t)["has_phone"] != true {
		t.Fatalf("login after binding: %s", login.Body)
	}
}

func TestConcurrentPhoneCallsOnTwoInstancesFetchOneAccessToken(t *testing.T) {
	cfg := redisStore(t, redistest.URL(t))
	w := newWorld(t, cfg)
	instances := []*caddy{w.caddy, w.another(t, cfg)}
	const n = 100
	tokens := make([]string, n)
	codes := make([]string, n)
	for i := range n {
		user := fmt.Sprintf("u%d", i)
		tokens[i] = w.loginVia(t, instances[i%2], user)
		codes[i] = w.mock.PhoneCode(user, fmt.Sprintf("1380000%04d", i))
	}
	before := w.mock.Stats()
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = do(t, "POST", instances[i%2].URL+"/wx/phone", tokens[i], fmt.Sprintf(`{"code":%q}`, codes[i])).Status
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("phone call %d: status %d", i, s)
		}
	}
	after := w.mock.Stats()
	fetched := after.TokensIssued["stable_token"] + after.TokensIssued["token"] - before.TokensIssued["stable_token"] - before.TokensIssued["token"]
	if fetched != 1 {
		t.Fatalf("%d access tokens issued for %d concurrent calls on two instances, want 1 (stats %+v)", fetched, n, after)
	}
	t.Logf("%d phone calls over 2 instances: %d access_token issued, %d token requests", n, fetched,
		after.TokenFetches["stable_token"]-before.TokenFetches["stable_token"])
}

func TestRedisGoingDownAnswers503FastAndRecoversWithoutRestart(t *testing.T) {
	srv := redistest.StartServer(t)
	w := newWorld(t, redisStore(t, srv.URL()))
	tok := w.login(t, "alice")

	srv.Stop()
	for _, tc := range []struct{ method, path, token, body string }{
		{"POST", "/wx/login", "", fmt.Sprintf(`{"code":%q}`, w.mock.Code("bob"))},
		{"POST", "/wx/phone", tok, `{"code":"x"}`},
		{"POST", "/wx/logout", tok, ""},
		{"GET", "/api/me", tok, ""},
	} {
		start := time.Now()
		r := do(t, tc.method, w.caddy.URL+tc.path, tc.token, tc.body)
		took := time.Since(start)
		wantError(t, r, http.StatusServiceUnavailable, "store_unavailable")
		t.Logf("%s %s with Redis down: 503 in %v", tc.method, tc.path, took)
		if took > 10*time.Second {
			t.Fatalf("%s took %v with Redis down", tc.path, took)
		}
	}

	srv.Start() // empty: a Redis that lost its data, as after a crash without persistence
	waitFor(t, 10*time.Second, "login works again", func() bool {
		return do(t, "POST", w.caddy.URL+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, w.mock.Code("carol"))).Status == http.StatusOK
	})
	tok = w.login(t, "alice")
	if r := do(t, "GET", w.caddy.URL+"/api/me", tok, ""); r.Status != http.StatusOK {
		t.Fatalf("after Redis came back: %d %s", r.Status, r.Body)
	}
}

func TestConfigReloadsDoNotLeakRedisConnections(t *testing.T) {
	srv := redistest.StartServer(t)
	w := newWorld(t, redisStore(t, srv.URL()))
	w.login(t, "alice")
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	clients := func() int {
		list, err := rdb.ClientList(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(list, "\n") - 1 // minus our own connection
	}
	before := clients()

	config := adaptedConfig(t, w.caddy)
	for i := range 5 {
		// Change something so Caddy really reloads.
		changed := strings.Replace(config, `"token_ttl"`, fmt.Sprintf(`"user_ttl":%d,"token_ttl"`, (i+1)*int(time.Hour)), 1)
		if changed == config {
			changed = strings.Replace(config, `"handler":"wxauth"`, fmt.Sprintf(`"handler":"wxauth","user_ttl":%d`, (i+1)*int(time.Hour)), 1)
		}
		resp, err := http.Post(w.caddy.Admin+"/load", "application/json", strings.NewReader(changed))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("reload %d: %d", i, resp.StatusCode)
		}
		// The new config works and uses Redis. The reload may reset a
		// connection that raced with it, so allow a few tries.
		user := fmt.Sprintf("user%d", i)
		waitFor(t, 10*time.Second, user+" logs in after reload "+fmt.Sprint(i), func() bool {
			resp, err := client.Post(w.caddy.URL+"/wx/login", "application/json", strings.NewReader(fmt.Sprintf(`{"code":%q}`, w.mock.Code(user))))
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	after := clients()
	t.Logf("Redis clients: %d before 5 reloads, %d after", before, after)
	if after > before {
		t.Fatalf("Redis connections grew from %d to %d over 5 reloads", before, after)
	}
}

// adaptedConfig returns the running JSON config of c.
func adaptedConfig(t *testing.T, c *caddy) string {
	t.Helper()
	r := do(t, "GET", c.Admin+"/config/", "", "")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /config/: %d", r.Status)
	}
	return string(r.Body)
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestWithFailOpenOnlyTokensHeldAsValidKeepWorkingWhileRedisIsDown(t *testing.T) {
	srv := redistest.StartServer(t)
	w := newWorld(t, redisStore(t, srv.URL())+"\n\t\tstore_outage fail_open")
	seen := w.login(t, "alice")
	unseen := w.login(t, "bob")
	revoked := w.login(t, "carol")
	if r := do(t, "GET", w.caddy.URL+"/api/me", seen, ""); r.Status != http.StatusOK {
		t.Fatalf("before the outage: %d", r.Status)
	}
	if r := do(t, "POST", w.caddy.URL+"/wx/logout", revoked, ""); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d", r.Status)
	}

	srv.Stop()
	time.Sleep(300 * time.Millisecond) // past cache_ttl: every lookup now meets the outage
	if r := do(t, "GET", w.caddy.URL+"/api/me", seen, ""); r.Status != http.StatusOK {
		t.Fatalf("a token held as valid, during the outage: %d %s", r.Status, r.Body)
	}
	// Only what this instance held as valid is served: not a token it never
	// saw, nor one logged out before the outage.
	wantError(t, do(t, "GET", w.caddy.URL+"/api/me", unseen, ""), 503, "store_unavailable")
	wantError(t, do(t, "GET", w.caddy.URL+"/api/me", revoked, ""), 401, "unauthorized")
	wantError(t, do(t, "GET", w.caddy.URL+"/api/me", "forged."+seen, ""), 401, "unauthorized")
	wantError(t, do(t, "POST", w.caddy.URL+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, w.mock.Code("dave"))), 503, "store_unavailable")
}

func TestEveryRedisKeyExpiresAndNoneHoldsASessionKeyInClear(t *testing.T) {
	srv := redistest.StartServer(t)
	w := newWorld(t, redisStore(t, srv.URL())+"\n\t\tlogin_rate_limit 100 1m")
	tok := w.login(t, "alice")
	sessionKey := w.mock.SessionKey("alice")
	do(t, "POST", w.caddy.URL+"/wx/phone", tok, fmt.Sprintf(`{"code":%q}`, w.mock.PhoneCode("alice", "13800138000")))
	do(t, "POST", w.caddy.URL+"/wx/logout", tok, "")

	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, k := range keys {
		ttl, err := rdb.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 {
			t.Errorf("key %s has no TTL (%v)", k, ttl)
		}
		dump, err := rdb.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(dump, sessionKey) || strings.Contains(dump, testSecret) {
			t.Errorf("key %s holds a session_key or the AppSecret in clear", k)
		}
		if !strings.Contains(k, ":"+testAppID+":") {
			t.Errorf("key %s is not namespaced by app_id", k)
		}
		parts := strings.Split(k, ":")
		kinds[parts[len(parts)-2]] = true
	}
	for _, kind := range []string{"session-keys", "user", "revoked", "code", "login-rate", "signing-key"} {
		if !kinds[kind] {
			t.Errorf("no %q key among %v", kind, keys)
		}
	}
}
