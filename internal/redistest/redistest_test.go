package redistest_test

import (
	"bufio"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// ping reports whether a Redis answers PING at addr.
func ping(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.TrimSpace(line) == "+PONG"
}

func TestURLNamesARedisThatAnswers(t *testing.T) {
	raw := redistest.URL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("URL() = %q: %v", raw, err)
	}
	if u.Scheme != "redis" {
		t.Skipf("cannot PING a %s URL without a client", u.Scheme)
	}
	if !ping(u.Host) {
		t.Fatalf("no PONG from %s", u.Host)
	}
	t.Logf("Redis at %s", u.Host) // the host only: the URL may hold a password
	if again := redistest.URL(t); again != raw {
		t.Fatalf("second URL() = %q, want the same server %q", again, raw)
	}
}

func TestPrefixDiffersOnEveryCall(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		p := redistest.Prefix(t)
		if seen[p] || !strings.HasSuffix(p, ":") || strings.Contains(p, " ") {
			t.Fatalf("Prefix() = %q: want unique, ending in ':' and without spaces", p)
		}
		seen[p] = true
	}
}

func TestServerStopsAndStartsAgainOnTheSamePort(t *testing.T) {
	srv := redistest.StartServer(t)
	addr := srv.Addr()
	if !ping(addr) {
		t.Fatal("no PONG after StartServer")
	}
	if srv.URL() != "redis://"+addr+"/0" {
		t.Fatalf("URL() = %q, want redis://%s/0", srv.URL(), addr)
	}
	srv.Stop()
	if ping(addr) {
		t.Fatal("PONG after Stop")
	}
	srv.Stop() // stopping twice is harmless
	srv.Start()
	if srv.Addr() != addr || !ping(addr) {
		t.Fatalf("after Start: addr %s (was %s), want PONG on the same port", srv.Addr(), addr)
	}
}
