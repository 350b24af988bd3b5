package session_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/redistest"
	"github.com/wxauth/caddy-wxauth/session"
)

// bound is how long anything a subscription promises may take here: generous,
// so a slow machine never fails a test that is not about speed.
const bound = 10 * time.Second

// subscription records what a Subscribe delivers.
type subscription struct {
	msgs     chan string
	states   chan bool
	wait     func()
	waited   atomic.Bool // set once wait has returned
	overflow atomic.Bool
	late     atomic.Int32 // callbacks after wait returned: never
}

func subscribe(t *testing.T, ctx context.Context, b session.Broadcaster, channel string) *subscription {
	t.Helper()
	s := &subscription{msgs: make(chan string, 1000), states: make(chan bool, 100)}
	s.wait = b.Subscribe(ctx, channel,
		func(msg []byte) {
			s.noteLate()
			select {
			case s.msgs <- string(msg):
			default:
				s.overflow.Store(true)
			}
		},
		func(up bool) {
			s.noteLate()
			select {
			case s.states <- up:
			default:
				s.overflow.Store(true)
			}
		})
	t.Cleanup(func() {
		s.stop()
		if s.overflow.Load() {
			t.Error("the test's buffers overflowed: callbacks were dropped")
		}
		if n := s.late.Load(); n > 0 {
			t.Errorf("%d callbacks ran after wait returned", n)
		}
	})
	return s
}

// stop waits for the subscription's goroutine, whose ctx the caller has
// cancelled (or the test's end did).
func (s *subscription) stop() {
	s.wait()
	s.waited.Store(true)
}

func (s *subscription) noteLate() {
	if s.waited.Load() {
		s.late.Add(1)
	}
}

// expectState waits for the next onState call and checks it reports want.
func (s *subscription) expectState(t *testing.T, want bool) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case up := <-s.states:
		if up != want {
			t.Fatalf("onState(%v), want onState(%v) next", up, want)
		}
	case <-time.After(bound):
		t.Fatalf("no onState(%v) within %v", want, bound)
	}
	return time.Since(start)
}

// expectNoState checks that no onState call is pending.
func (s *subscription) expectNoState(t *testing.T) {
	t.Helper()
	select {
	case up := <-s.states:
		t.Fatalf("unexpected onState(%v)", up)
	default:
	}
}

// expectMessages waits for exactly want, in order, as the next messages.
func (s *subscription) expectMessages(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.After(bound)
	for i, w := range want {
		select {
		case got := <-s.msgs:
			if got != w {
				t.Fatalf("message %d = %q, want %q", i, got, w)
			}
		case <-deadline:
			t.Fatalf("only %d of %d messages within %v; next wanted %q", i, len(want), bound, w)
		}
	}
}

// publish retries until Redis takes the message: a client whose server has
// just come back may fail once on a connection that died meanwhile.
func publish(t *testing.T, b session.Broadcaster, channel, msg string) {
	t.Helper()
	start := time.Now()
	for {
		err := b.Publish(t.Context(), channel, []byte(msg))
		if err == nil {
			return
		}
		if time.Since(start) > bound {
			t.Fatalf("Publish still failing after %v: %v", bound, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMemoryIsNotABroadcaster(t *testing.T) {
	if _, ok := any(session.NewMemory()).(session.Broadcaster); ok {
		t.Fatal("*session.Memory implements Broadcaster; one process needs no messages to itself")
	}
}

func TestRedisBroadcastReachesEverySubscriberInOrder(t *testing.T) {
	url, prefix := redistest.URL(t), redistest.Prefix(t)
	// Three instances: two listen, one speaks, each with its own client.
	a := session.NewRedis(newClient(t, url), prefix)
	b := session.NewRedis(newClient(t, url), prefix)
	pub := session.NewRedis(newClient(t, url), prefix)
	subs := []*subscription{
		subscribe(t, t.Context(), a, "changes"),
		subscribe(t, t.Context(), b, "changes"),
	}
	for _, s := range subs {
		s.expectState(t, true)
	}

	want := []string{"", "\x00\xff\r\n binary", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"}
	for i := range 100 {
		want = append(want, fmt.Sprint("change-", i))
	}
	for _, m := range want {
		if err := pub.Publish(t.Context(), "changes", []byte(m)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	for _, s := range subs {
		s.expectMessages(t, want...)
		s.expectNoState(t)
	}
}

func TestRedisPublishWithoutSubscribersIsNotAnError(t *testing.T) {
	s := session.NewRedis(newClient(t, redistest.URL(t)), redistest.Prefix(t))
	if err := s.Publish(t.Context(), "nobody-listens", []byte("x")); err != nil {
		t.Fatalf("Publish = %v, want nil", err)
	}
}

func TestRedisChannelsAreNamespacedByPrefix(t *testing.T) {
	url, base := redistest.URL(t), redistest.Prefix(t)
	listener := session.NewRedis(newClient(t, url), base+"a:")
	sameA := session.NewRedis(newClient(t, url), base+"a:")
	otherB := session.NewRedis(newClient(t, url), base+"b:")
	s := subscribe(t, t.Context(), listener, "changes")
	s.expectState(t, true)

	// Redis delivers in the order it runs the PUBLISHes, and each returns
	// before the next is sent: had b's reached the listener, it would come
	// before a's.
	if err := otherB.Publish(t.Context(), "changes", []byte("from b")); err != nil {
		t.Fatal(err)
	}
	if err := sameA.Publish(t.Context(), "changes", []byte("from a")); err != nil {
		t.Fatal(err)
	}
	s.expectMessages(t, "from a")
}

func TestRedisSubscriptionReportsALostServerAndComesBack(t *testing.T) {
	srv := redistest.StartServer(t)
	listener := session.NewRedis(newClient(t, srv.URL()), "bc:")
	speaker := session.NewRedis(newClient(t, srv.URL()), "bc:")
	s := subscribe(t, t.Context(), listener, "changes")
	s.expectState(t, true)
	publish(t, speaker, "changes", "before")
	s.expectMessages(t, "before")

	srv.Stop()
	took := s.expectState(t, false)
	t.Logf("loss reported %v after the server stopped", took.Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond) // a few retries, all failing
	s.expectNoState(t)

	srv.Start()
	took = s.expectState(t, true)
	t.Logf("subscription back %v after the server started", took.Round(time.Millisecond))
	publish(t, speaker, "changes", "after")
	s.expectMessages(t, "after")
	s.expectNoState(t)
}

func TestRedisSubscriptionWaitsForRedisToComeUp(t *testing.T) {
	srv := redistest.StartServer(t)
	srv.Stop()
	listener := session.NewRedis(newClient(t, srv.URL()), "bc:")
	s := subscribe(t, t.Context(), listener, "changes")
	time.Sleep(300 * time.Millisecond)
	s.expectNoState(t) // never up, so never lost either

	srv.Start()
	s.expectState(t, true)
	publish(t, session.NewRedis(newClient(t, srv.URL()), "bc:"), "changes", "hello")
	s.expectMessages(t, "hello")
}

// TestRedisSubscriptionNoticesAConnectionThatFallsSilent covers what a
// stopped server does not: a peer that vanishes without a reset, so the
// connection stays open and writes still succeed, while nothing comes back.
func TestRedisSubscriptionNoticesAConnectionThatFallsSilent(t *testing.T) {
	srv := redistest.StartServer(t)
	proxy := startSilenceableProxy(t, srv.Addr())
	listener := session.NewRedis(newClient(t, "redis://"+proxy.addr()+"/0"), "bc:")
	speaker := session.NewRedis(newClient(t, srv.URL()), "bc:")
	s := subscribe(t, t.Context(), listener, "changes")
	s.expectState(t, true)

	// Idle but healthy, for longer than silence may last before a
	// connection counts as lost: the health check's PINGs keep it.
	time.Sleep(4 * time.Second)
	s.expectNoState(t)
	publish(t, speaker, "changes", "idle")
	s.expectMessages(t, "idle")

	proxy.silence()
	took := s.expectState(t, false)
	t.Logf("silent connection reported lost after %v", took.Round(time.Millisecond))

	proxy.speak()
	s.expectState(t, true)
	publish(t, speaker, "changes", "after")
	s.expectMessages(t, "after")
}

func TestRedisSubscriptionEndsWithItsContext(t *testing.T) {
	for _, tc := range []struct {
		name string
		down bool
	}{
		{"while established", false},
		{"while Redis is down and it retries", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.StartServer(t)
			listener := session.NewRedis(newClient(t, srv.URL()), "bc:")
			speaker := session.NewRedis(newClient(t, srv.URL()), "bc:")
			publish(t, speaker, "warm-up", "x") // the clients' own goroutines, if any, start now
			before := runtime.NumGoroutine()

			ctx, cancel := context.WithCancel(t.Context())
			s := subscribe(t, ctx, listener, "changes")
			if tc.down {
				srv.Stop()
				time.Sleep(300 * time.Millisecond) // in its retry loop now
			} else {
				s.expectState(t, true)
				publish(t, speaker, "changes", "one")
				s.expectMessages(t, "one")
			}

			cancel()
			stopped := make(chan struct{})
			go func() { s.stop(); close(stopped) }()
			select {
			case <-stopped:
			case <-time.After(bound):
				t.Fatalf("wait did not return within %v of cancelling", bound)
			}
			if !tc.down {
				// The goroutine has ended, so nothing can reach the
				// callbacks; the cleanup counts any that did.
				publish(t, speaker, "changes", "two")
			}
			s.expectNoState(t)
			if len(s.msgs) != 0 {
				t.Fatalf("%d messages delivered after the context was cancelled", len(s.msgs))
			}

			deadline := time.Now().Add(bound)
			for runtime.NumGoroutine() > before {
				if time.Now().After(deadline) {
					buf := make([]byte, 1<<20)
					t.Fatalf("%d goroutines after the subscription ended, %d before:\n%s",
						runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// silenceableProxy forwards TCP connections to a Redis until silence is
// called. From then on it passes nothing, in either direction, on any
// connection, and closes none, as a host that vanished looks from the
// client: writes succeed, nothing ever comes back. After speak, new
// connections work again; the silenced ones stay silent.
type silenceableProxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	silent bool
	pairs  []*proxyPair
	wg     sync.WaitGroup
}

type proxyPair struct {
	client, server net.Conn
	dead           atomic.Bool
}

func startSilenceableProxy(t *testing.T, target string) *silenceableProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &silenceableProxy{ln: ln, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *silenceableProxy) addr() string { return p.ln.Addr().String() }

func (p *silenceableProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		pair := &proxyPair{client: c, server: s}
		p.mu.Lock()
		pair.dead.Store(p.silent)
		p.pairs = append(p.pairs, pair)
		p.mu.Unlock()
		p.wg.Go(func() { pair.pipe(s, c) })
		p.wg.Go(func() { pair.pipe(c, s) })
	}
}

// pipe copies src to dst, dropping everything once the pair is dead, until
// either side fails or closes; then it closes both.
func (pair *proxyPair) pipe(dst, src net.Conn) {
	defer func() {
		_ = pair.client.Close()
		_ = pair.server.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !pair.dead.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *silenceableProxy) silence() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.silent = true
	for _, pair := range p.pairs {
		pair.dead.Store(true)
	}
}

func (p *silenceableProxy) speak() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.silent = false
}

func (p *silenceableProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, pair := range p.pairs {
		_ = pair.client.Close()
		_ = pair.server.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
