package integration

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wxauth/caddy-wxauth/internal/redistest"
)

// eventsCluster is two instances on one Redis of the test's own whose
// cache_ttl is an hour: only a change event explains a change seen quickly.
func eventsCluster(t *testing.T) (*world, *caddy, *caddy, *redistest.Server) {
	t.Helper()
	srv := redistest.StartServer(t)
	cfg := fmt.Sprintf("store redis %s\n\t\tkey_prefix %s\n\t\tcache_ttl 1h", srv.URL(), redistest.Prefix(t))
	w := newWorld(t, cfg)
	b := w.another(t, cfg)
	for _, c := range []*caddy{w.caddy, b} {
		waitFor(t, 10*time.Second, "events flow on "+c.URL, func() bool { return eventsGauge(t, c) == 1 })
	}
	return w, w.caddy, b, srv
}

// eventsGauge reads caddy_wxauth_events_subscribed of c's account.
func eventsGauge(t *testing.T, c *caddy) float64 {
	t.Helper()
	return eventsSubscribed(t, c.Admin, testAppID)
}

// eventsSubscribed reads caddy_wxauth_events_subscribed of appID from the
// Caddy whose admin endpoint is admin.
func eventsSubscribed(t *testing.T, admin, appID string) float64 {
	t.Helper()
	r := do(t, "GET", admin+"/metrics", "", "")
	for _, line := range strings.Split(string(r.Body), "\n") {
		if strings.HasPrefix(line, `caddy_wxauth_events_subscribed{app_id="`+appID+`"}`) {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			return v
		}
	}
	return -1
}

func TestALogoutOnOneInstanceIsRefusedOnAnotherAtOnceWithAnHourOfCacheTTL(t *testing.T) {
	w, a, b, _ := eventsCluster(t)
	for i := range 5 {
		tok := w.loginVia(t, a, fmt.Sprintf("user%d", i))
		if r := do(t, "GET", b.URL+"/api/me", tok, ""); r.Status != http.StatusOK {
			t.Fatalf("b before the logout: %d", r.Status)
		}
		if r := do(t, "POST", a.URL+"/wx/logout", tok, ""); r.Status != http.StatusNoContent {
			t.Fatalf("logout on a: %d", r.Status)
		}
		waitFor(t, 2*time.Second, "b refuses the logged-out token", func() bool {
			return do(t, "GET", b.URL+"/api/me", tok, "").Status == http.StatusUnauthorized
		})
	}
}

func TestAPhoneBoundOnOneInstanceReachesUpstreamThroughAnotherAtOnce(t *testing.T) {
	w, a, b, _ := eventsCluster(t)
	tok := w.loginVia(t, a, "alice")
	do(t, "GET", b.URL+"/api/me", tok, "") // b holds the token, phone-less
	if r := do(t, "POST", a.URL+"/wx/phone", tok, fmt.Sprintf(`{"code":%q}`, w.mock.PhoneCode("alice", "13800138000"))); r.Status != http.StatusOK {
		t.Fatalf("phone on a: %d %s", r.Status, r.Body)
	}
	waitFor(t, 2*time.Second, "b hands the phone upstream", func() bool {
		do(t, "GET", b.URL+"/api/me", tok, "")
		return w.upstream.last(t).Get("X-Phone") == "13800138000"
	})
}

func TestAVerifiedTokenCostsRedisNoCommandWhileEventsFlow(t *testing.T) {
	w, a, b, srv := eventsCluster(t)
	tok := w.loginVia(t, a, "alice")
	do(t, "GET", b.URL+"/api/me", tok, "") // the first sight: one round trip
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	before := commandCalls(t, rdb)
	const n = 200
	for range n {
		if r := do(t, "GET", b.URL+"/api/me", tok, ""); r.Status != http.StatusOK {
			t.Fatalf("%d", r.Status)
		}
	}
	after := commandCalls(t, rdb)
	var used []string
	for cmd, calls := range after {
		// Each instance's keyring asks once every 5 s which key signs, and
		// the subscription pings while idle: neither is the hot path.
		if d := calls - before[cmd]; d > 0 && cmd != "info" && cmd != "ping" && !(cmd == "get" && d <= 2) {
			used = append(used, fmt.Sprintf("%s×%d", cmd, d))
		}
	}
	if len(used) > 0 {
		t.Fatalf("%d verified requests on b cost Redis %v, want nothing", n, used)
	}
}

// commandCalls reads INFO commandstats: calls by command.
func commandCalls(t *testing.T, rdb *redis.Client) map[string]int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		calls[strings.TrimPrefix(name, "cmdstat_")], _ = strconv.Atoi(n)
	}
	return calls
}

func TestARedisRestartFallsBackToCacheTTLThenResubscribesAndDropsTheCache(t *testing.T) {
	w, a, b, srv := eventsCluster(t)
	tok := w.loginVia(t, a, "alice")
	do(t, "GET", b.URL+"/api/me", tok, "")
	srv.Stop()
	waitFor(t, 15*time.Second, "b says events stopped", func() bool { return eventsGauge(t, b) == 0 })
	b.WaitLog(t, "the Warn line about the fallback", func(log string) bool {
		return strings.Contains(log, "change events from other instances stopped")
	})
	srv.Start() // empty, as after a restart without persistence
	waitFor(t, 15*time.Second, "b subscribes again", func() bool { return eventsGauge(t, b) == 1 })
	// The token is still good (keys survive the data loss); b re-read it
	// after dropping its cache, so the logout on a is seen at once again.
	if r := do(t, "GET", b.URL+"/api/me", tok, ""); r.Status != http.StatusOK {
		t.Fatalf("b after the restart: %d %s", r.Status, r.Body)
	}
	waitFor(t, 15*time.Second, "a subscribes again", func() bool { return eventsGauge(t, a) == 1 })
	if r := do(t, "POST", a.URL+"/wx/logout", tok, ""); r.Status != http.StatusNoContent {
		t.Fatalf("logout on a: %d %s", r.Status, r.Body)
	}
	waitFor(t, 2*time.Second, "b refuses the logged-out token", func() bool {
		return do(t, "GET", b.URL+"/api/me", tok, "").Status == http.StatusUnauthorized
	})
}
