package bench

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/auth"
	"github.com/wxauth/caddy-wxauth/internal/redistest"
	"github.com/wxauth/caddy-wxauth/session"
	"github.com/wxauth/caddy-wxauth/token"
	"github.com/wxauth/caddy-wxauth/wechat"
	"github.com/wxauth/caddy-wxauth/wxmock"
)

const (
	appID     = "wx0123456789abcdef"
	appSecret = "bench-app-secret"
	// What caddymodule puts before keys in Redis by default; a memory store
	// is one per prefix and its keys carry none.
	redisKeyPrefix = "wxauth:" + appID + ":"
)

func needMemoryBench(t *testing.T) {
	if os.Getenv("WXAUTH_BENCH_MEMORY") != "1" {
		t.Skip("set WXAUTH_BENCH_MEMORY=1 to measure memory per session (takes a minute)")
	}
}

// write is one store write a login or a phone binding made.
type write struct {
	op    string // "set", "setnx", "push"
	key   string
	value []byte
	keep  int
	ttl   time.Duration
}

// recorder is a session.Store that notes every write before passing it on.
type recorder struct {
	session.Store
	mu     sync.Mutex
	writes []write
}

func (r *recorder) note(w write) {
	r.mu.Lock()
	r.writes = append(r.writes, w)
	r.mu.Unlock()
}

func (r *recorder) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	r.note(write{op: "set", key: key, value: value, ttl: ttl})
	return r.Store.Set(ctx, key, value, ttl)
}

func (r *recorder) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	r.note(write{op: "setnx", key: key, value: value, ttl: ttl})
	return r.Store.SetNX(ctx, key, value, ttl)
}

func (r *recorder) Push(ctx context.Context, key string, value []byte, keep int, ttl time.Duration) error {
	r.note(write{op: "push", key: key, value: value, keep: keep, ttl: ttl})
	return r.Store.Push(ctx, key, value, keep, ttl)
}

// userShape is what one logged-in user with a bound phone leaves in the
// store, learnt by running a real login and phone binding through
// auth.Service against wxmock (with unionid on), so it follows the code.
type userShape struct {
	openid, unionid string
	perUser         []write // keys naming the openid: kept for the user
	perLogin        []write // the code claim: kept 5 minutes after a login
	perDeployment   []write // signing key, access_token: once for everybody
}

func learnUserShape(t *testing.T) userShape {
	t.Helper()
	ctx := context.Background()
	mock := wxmock.New(wxmock.Config{AppID: appID, AppSecret: appSecret, UnionID: true})
	srv := httptest.NewServer(mock)
	defer srv.Close()

	rec := &recorder{Store: session.NewMemory()}
	svc := newService(t, rec, srv.URL)
	login, err := svc.Login(ctx, mock.Code("alice"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := svc.Verify(ctx, login.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PhoneByCode(ctx, id, mock.PhoneCode("alice", "13800138000")); err != nil {
		t.Fatal(err)
	}

	shape := userShape{openid: login.OpenID, unionid: login.UnionID}
	if shape.unionid == "" {
		t.Fatal("wxmock gave no unionid; the shape would miss the unionid key")
	}
	for _, w := range rec.writes {
		switch {
		case strings.Contains(w.key, shape.openid):
			shape.perUser = append(shape.perUser, w)
		case strings.HasPrefix(w.key, "code:"):
			shape.perLogin = append(shape.perLogin, w)
		default:
			shape.perDeployment = append(shape.perDeployment, w)
		}
	}
	for _, w := range rec.writes {
		t.Logf("store write: %-5s %-60s %3d bytes, ttl %v", w.op, w.key, len(w.value), w.ttl)
	}
	return shape
}

// newService is auth.Service as caddymodule sets it up on a memory store.
func newService(t testing.TB, store session.Store, wechatURL string) *auth.Service {
	t.Helper()
	ctx := context.Background()
	tokens, err := token.New(ctx, token.Config{
		AppID: appID, TTL: 2 * time.Hour, Store: store,
	})
	if err != nil {
		t.Fatal(err)
	}
	seal, err := auth.DeriveSealKey(appSecret)
	if err != nil {
		t.Fatal(err)
	}
	client := &wechat.Client{AppID: appID, AppSecret: appSecret, BaseURL: wechatURL}
	svc, err := auth.New(auth.Config{
		AppID: appID, WeChat: client, Tokens: tokens, Store: store,
		SealKey: seal, TokenTTL: 2 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// fakeID returns a string as long as like, unique for i, so synthetic users
// have keys and values of the real lengths.
func fakeID(like string, tag byte, i int) string {
	s := strconv.Itoa(i)
	return like[:len(like)-len(s)-1] + string(tag) + s
}

// replay writes writes for synthetic user i under prefix: the openid and
// unionid in keys and values are replaced by ones of the same length, and
// every value is a fresh copy (sealed session_keys are random, so none is
// shared).
func replay(ctx context.Context, st session.Store, prefix string, shape userShape, writes []write, i int) error {
	openid, unionid := fakeID(shape.openid, 'u', i), fakeID(shape.unionid, 'n', i)
	for _, w := range writes {
		key := strings.ReplaceAll(w.key, shape.openid, openid)
		if strings.HasPrefix(w.key, "code:") {
			key = fakeID(w.key, 'c', i)
		}
		key = prefix + key
		value := []byte(strings.ReplaceAll(string(w.value), shape.unionid, unionid))
		var err error
		switch w.op {
		case "set":
			err = st.Set(ctx, key, value, w.ttl)
		case "setnx":
			_, err = st.SetNX(ctx, key, value, w.ttl)
		case "push":
			err = st.Push(ctx, key, value, w.keep, w.ttl)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func sessionCounts() []int {
	if s := os.Getenv("WXAUTH_BENCH_SESSIONS"); s != "" {
		var ns []int
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err == nil && n > 0 {
				ns = append(ns, n)
			}
		}
		return ns
	}
	return []int{100_000, 1_000_000}
}

// keys counts the distinct keys writes write to.
func keys(writes []write) int {
	seen := map[string]bool{}
	for _, w := range writes {
		seen[w.key] = true
	}
	return len(seen)
}

func bytesPer(delta, n uint64) string { return fmt.Sprintf("%.0f B", float64(delta)/float64(n)) }

// TestMemoryPerSession reports the heap one logged-in user with a phone
// bound costs in the memory store (its session_key list and its user record
// with unionid and phone), what each login adds for 5 minutes (the code claim), and what a
// token costs in the verified-token cache.
func TestMemoryPerSession(t *testing.T) {
	needMemoryBench(t)
	shape := learnUserShape(t)
	ctx := context.Background()
	for _, n := range sessionCounts() {
		t.Run(fmt.Sprintf("memory store, %d users", n), func(t *testing.T) {
			before := heapInUse()
			st := session.NewMemory()
			for i := range n {
				if err := replay(ctx, st, "", shape, shape.perUser, i); err != nil {
					t.Fatal(err)
				}
			}
			users := heapInUse() - before
			for i := range n {
				if err := replay(ctx, st, "", shape, shape.perLogin, i); err != nil {
					t.Fatal(err)
				}
			}
			logins := heapInUse() - before - users
			if got, want := st.Len(), n*(keys(shape.perUser)+keys(shape.perLogin)); got != want {
				t.Fatalf("store holds %d entries, want %d", got, want)
			}
			runtime.KeepAlive(st)
			t.Logf("RESULT store=memory users=%d per_user=%s (%d keys) per_login_5min=%s",
				n, bytesPer(users, uint64(n)), keys(shape.perUser), bytesPer(logins, uint64(n)))
		})
	}
}

// TestMemoryVerifiedTokenCache reports what the verified-token cache holds
// per token (one entry per token verified in the last token TTL, at most
// auth's default cache size, 100000).
func TestMemoryVerifiedTokenCache(t *testing.T) {
	needMemoryBench(t)
	ctx := context.Background()
	const n = 100_000
	// The tokens come from a token.Manager of their own sharing svc's store
	// (and so its signing key): svc's heap then grows only by what
	// verification keeps.
	store := session.NewMemory()
	svc := newService(t, store, "http://127.0.0.1:1")
	tokens, err := token.New(ctx, token.Config{
		AppID: appID, TTL: 2 * time.Hour, Store: store,
	})
	if err != nil {
		t.Fatal(err)
	}
	raws := make([]string, n)
	for i := range raws {
		if raws[i], _, err = tokens.Issue(ctx, fakeID("o-bench-user-0123456789abcdef", 'u', i)); err != nil {
			t.Fatal(err)
		}
	}
	before := heapInUse()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
				if _, err := svc.Verify(ctx, raws[i]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	cache := heapInUse() - before
	runtime.KeepAlive(svc)
	runtime.KeepAlive(raws)
	t.Logf("RESULT cache tokens=%d per_token=%s", n, bytesPer(cache, n))
}

// TestRedisMemoryPerSession reports Redis's used_memory per user, written by
// session.Redis into a throwaway redis-server (none of anybody's data is
// touched), then deleted again.
func TestRedisMemoryPerSession(t *testing.T) {
	needMemoryBench(t)
	shape := learnUserShape(t)
	srv := redistest.StartServer(t)
	client, err := session.NewRedisClient(srv.URL() + "?pool_size=64")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	st := session.NewRedis(client, "bench:")
	ctx := context.Background()

	n := 100_000
	if s := os.Getenv("WXAUTH_BENCH_REDIS_SESSIONS"); s != "" {
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			t.Fatalf("WXAUTH_BENCH_REDIS_SESSIONS=%q", s)
		}
	}
	usedMemory := func() uint64 {
		info, err := client.Info(ctx, "memory").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				u, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				return u
			}
		}
		t.Fatal("no used_memory in INFO memory")
		return 0
	}
	fill := func(writes []write) {
		var next atomic.Int64
		var wg sync.WaitGroup
		errc := make(chan error, 1)
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
					if err := replay(ctx, st, redisKeyPrefix, shape, writes, int(i)); err != nil {
						select {
						case errc <- err:
						default:
						}
						return
					}
				}
			}()
		}
		wg.Wait()
		select {
		case err := <-errc:
			t.Fatal(err)
		default:
		}
	}

	before := usedMemory()
	fill(shape.perUser)
	users := usedMemory() - before
	fill(shape.perLogin)
	logins := usedMemory() - before - users
	t.Logf("RESULT store=redis users=%d per_user=%s (%d keys) per_login_5min=%s",
		n, bytesPer(users, uint64(n)), keys(shape.perUser), bytesPer(logins, uint64(n)))

	// Leave nothing behind, even on a throwaway server.
	iter := client.Scan(ctx, 0, "bench:*", 10_000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			client.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		client.Unlink(ctx, batch...)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
}
