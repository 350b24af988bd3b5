package session_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wxauth/caddy-wxauth/internal/redistest"
	"github.com/wxauth/caddy-wxauth/session"
	"github.com/wxauth/caddy-wxauth/session/storetest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// newClient connects to rawURL the way the Caddy module does and closes the
// client when t ends.
func newClient(t testing.TB, rawURL string) redis.UniversalClient {
	t.Helper()
	client, err := session.NewRedisClient(rawURL)
	if err != nil {
		t.Fatalf("NewRedisClient: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func TestRedisHonoursTheStoreContract(t *testing.T) {
	client := newClient(t, redistest.URL(t))
	storetest.Run(t, func(t *testing.T) session.Store {
		return session.NewRedis(client, redistest.Prefix(t))
	})
}

func TestRedisStoresWithDifferentPrefixesDoNotShareKeys(t *testing.T) {
	ctx := t.Context()
	client := newClient(t, redistest.URL(t))
	base := redistest.Prefix(t)
	a := session.NewRedis(client, base+"a:")
	b := session.NewRedis(client, base+"b:")

	if err := a.Set(ctx, "k", []byte("from a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("b.Get(k) = %v, want ErrNotFound", err)
	}
	if n, err := b.Incr(ctx, "k", time.Minute); n != 1 || err != nil {
		t.Fatalf("b.Incr(k) = %d, %v; want 1, nil", n, err)
	}
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Get(ctx, "k"); string(got) != "from a" || err != nil {
		t.Fatalf("a.Get(k) after b's writes = %q, %v; want from a", got, err)
	}
}

func TestRedisWritesEveryKeyUnderItsPrefixWithATTL(t *testing.T) {
	ctx := t.Context()
	client := newClient(t, redistest.URL(t))
	prefix := redistest.Prefix(t)
	s := session.NewRedis(client, prefix)
	const ttl = time.Minute
	for _, tc := range []struct {
		name  string
		write func(key string) error
	}{
		{"Set", func(k string) error { return s.Set(ctx, k, []byte("v"), ttl) }},
		{"SetNX", func(k string) error { _, err := s.SetNX(ctx, k, []byte("v"), ttl); return err }},
		{"Push", func(k string) error { return s.Push(ctx, k, []byte("v"), 3, ttl) }},
		{"Incr", func(k string) error { _, err := s.Incr(ctx, k, ttl); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "key-" + tc.name
			if err := tc.write(key); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			pttl, err := client.PTTL(ctx, prefix+key).Result()
			if err != nil {
				t.Fatalf("PTTL: %v", err)
			}
			if pttl <= 0 || pttl > ttl {
				t.Errorf("PTTL(prefix+key) = %v, want in (0, %v]", pttl, ttl)
			}
			if n, err := client.Exists(ctx, key).Result(); n != 0 || err != nil {
				t.Errorf("EXISTS(key without prefix) = %d, %v; want 0", n, err)
			}
		})
	}
}

func TestRedisIncrGivesACounterLeftWithoutTTLOne(t *testing.T) {
	ctx := t.Context()
	client := newClient(t, redistest.URL(t))
	prefix := redistest.Prefix(t)
	// As if an older writer crashed between INCR and PEXPIRE.
	if err := client.Set(ctx, prefix+"c", "5", 0).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Del(ctx, prefix+"c") })

	n, err := session.NewRedis(client, prefix).Incr(ctx, "c", time.Minute)
	if n != 6 || err != nil {
		t.Fatalf("Incr = %d, %v; want 6, nil", n, err)
	}
	if pttl := client.PTTL(ctx, prefix+"c").Val(); pttl <= 0 {
		t.Fatalf("PTTL after Incr = %v, want a positive TTL", pttl)
	}
}

func TestRedisFailsFastWhileRedisIsDownAndRecoversWithTheSameClient(t *testing.T) {
	ctx := t.Context()
	srv := redistest.StartServer(t)
	s := session.NewRedis(newClient(t, srv.URL()), "fault:")
	if err := s.Set(ctx, "k", []byte("before"), time.Minute); err != nil {
		t.Fatalf("Set while up: %v", err)
	}

	srv.Stop()
	const bound = 10 * time.Second
	var slowest time.Duration
	for i := range 5 {
		start := time.Now()
		_, err := s.Get(ctx, "k")
		took := time.Since(start)
		slowest = max(slowest, took)
		if err == nil || errors.Is(err, session.ErrNotFound) {
			t.Fatalf("Get #%d while down = %v, want a store error", i+1, err)
		}
		if took > bound {
			t.Fatalf("Get #%d while down took %v, want under %v", i+1, took, bound)
		}
		if i == 0 {
			t.Logf("first Get while down failed after %v: %v", took.Round(time.Millisecond), err)
		}
	}
	t.Logf("slowest of 5 Gets while down: %v", slowest.Round(time.Millisecond))

	srv.Start()
	start := time.Now()
	for {
		err := s.Set(ctx, "k", []byte("after"), time.Minute)
		if err == nil {
			break
		}
		if time.Since(start) > bound {
			t.Fatalf("store still failing %v after Redis came back: %v", bound, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("recovered %v after Redis came back", time.Since(start).Round(time.Millisecond))
	if got, err := s.Get(ctx, "k"); string(got) != "after" || err != nil {
		t.Fatalf("Get after recovery = %q, %v; want after", got, err)
	}
}

// TestRedisConcurrentRequestsWhileDownAllFailFast checks that a burst of
// requests against a dead Redis does not queue behind the pool.
func TestRedisConcurrentRequestsWhileDownAllFailFast(t *testing.T) {
	ctx := t.Context()
	srv := redistest.StartServer(t)
	s := session.NewRedis(newClient(t, srv.URL()), "fault:")
	srv.Stop()

	const n = 50
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		slowest time.Duration
		ok      int
	)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			t0 := time.Now()
			_, err := s.Incr(ctx, fmt.Sprint("c", i), time.Minute)
			mu.Lock()
			defer mu.Unlock()
			slowest = max(slowest, time.Since(t0))
			if err == nil {
				ok++
			}
		})
	}
	wg.Wait()
	t.Logf("%d concurrent Incr calls while down: all done after %v, slowest %v",
		n, time.Since(start).Round(time.Millisecond), slowest.Round(time.Millisecond))
	if ok != 0 {
		t.Fatalf("%d Incr calls succeeded against a stopped Redis", ok)
	}
	if slowest > 10*time.Second {
		t.Fatalf("slowest call took %v, want under 10s", slowest)
	}
}

// roundTrips counts what a client sends: single commands by name, and
// pipelines with the names of their commands. A new connection's handshake
// (HELLO, CLIENT SETINFO) goes through the hooks too; the test looks past it.
type roundTrips struct {
	mu        sync.Mutex
	single    []string
	pipelines [][]string
}

func (*roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.single = append(h.single, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		names := make([]string, len(cmds))
		for i, c := range cmds {
			names[i] = c.Name()
		}
		h.mu.Lock()
		h.pipelines = append(h.pipelines, names)
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

func TestRedisGetMultiSendsOneGETPerKeyInOnePipeline(t *testing.T) {
	ctx := t.Context()
	client := newClient(t, redistest.URL(t))
	s := session.NewRedis(client, redistest.Prefix(t))
	if err := s.Set(ctx, "a", []byte("1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	h := &roundTrips{}
	client.AddHook(h)

	got, err := s.GetMulti(ctx, "a", "b", "a", "c")
	if err != nil || len(got) != 4 || string(got[0]) != "1" || got[1] != nil {
		t.Fatalf("GetMulti = %q, %v", got, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	isRead := func(name string) bool { return name == "get" || name == "mget" }
	var reads [][]string
	for _, p := range h.pipelines {
		if slices.ContainsFunc(p, isRead) {
			reads = append(reads, p)
		}
	}
	if slices.ContainsFunc(h.single, isRead) || len(reads) != 1 || !slices.Equal(reads[0], []string{"get", "get", "get", "get"}) {
		t.Fatalf("GetMulti sent commands %q and pipelines %q; want one pipeline of 4 GETs (MGET would fail on a Cluster)", h.single, h.pipelines)
	}
}

func TestRedisGetMultiOfNoKeysNeedsNoRedis(t *testing.T) {
	// Nothing listens on port 1: any round trip fails.
	s := session.NewRedis(newClient(t, "redis://127.0.0.1:1/0?max_retries=-1"), "")
	if got, err := s.GetMulti(t.Context()); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("GetMulti() without Redis = %#v, %v; want an empty result, nil", got, err)
	}
	got, err := s.GetMulti(t.Context(), "a", "b")
	if err == nil || errors.Is(err, session.ErrNotFound) {
		t.Fatalf("GetMulti(a, b) without Redis = %q, %v; want a store error", got, err)
	}
}

func TestRedisGetMultiOfAListFailsWithWRONGTYPEAsGetDoes(t *testing.T) {
	ctx := t.Context()
	s := session.NewRedis(newClient(t, redistest.URL(t)), redistest.Prefix(t))
	if err := s.Push(ctx, "l", []byte("x"), 3, time.Minute); err != nil {
		t.Fatal(err)
	}
	_, getErr := s.Get(ctx, "l")
	_, multiErr := s.GetMulti(ctx, "absent", "l")
	for name, err := range map[string]error{"Get": getErr, "GetMulti": multiErr} {
		if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
			t.Errorf("%s of a list = %v; want Redis's WRONGTYPE error", name, err)
		}
	}
}
