// Package redistest gives tests a Redis to talk to, without making Redis a
// requirement for running `go test ./...` on a fresh machine.
//
// URL picks, in order:
//  1. $WXAUTH_REDIS_URL, when set (any URL session.NewRedisClient takes). Tests
//     share that Redis and its database, so each must keep its keys under
//     its own Prefix; nothing is flushed, and every key a session.Store
//     writes carries a TTL, so leftovers expire by themselves.
//  2. A throwaway redis-server, when one is on PATH: started on a free port
//     on first use, without persistence, in a temporary directory, and
//     stopped by Main after the package's tests.
//  3. Otherwise the test is skipped, or fails when WXAUTH_REQUIRE_REDIS=1
//     (set it in CI so a missing Redis cannot pass as green).
//
// A package using URL calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
// StartServer starts a separate server that one test may stop and restart,
// for fault tests; it needs the redis-server binary whatever the environment.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wxauth/caddy-wxauth/internal/proctest"
)

const (
	// EnvURL names an existing Redis to test against.
	EnvURL = "WXAUTH_REDIS_URL"
	// EnvRequire, set to 1, turns "no Redis available" from a skip into a
	// failure.
	EnvRequire = "WXAUTH_REQUIRE_REDIS"

	startTimeout = 10 * time.Second
)

var (
	mainCalled atomic.Bool

	sharedMu  sync.Mutex
	shared    *Server
	sharedErr error

	runID  = newRunID()
	prefix atomic.Int64
)

// Main runs the package's tests and then stops the throwaway redis-server
// that URL may have started. Call it from TestMain. (A t.Cleanup cannot do
// this: the server outlives every single test.)
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main for a TestMain with cleanup of its own to do: it returns the
// exit code instead of exiting.
func Run(m *testing.M) int {
	mainCalled.Store(true)
	code := m.Run()
	sharedMu.Lock()
	if shared != nil {
		shared.stop()
		_ = os.RemoveAll(shared.dir)
	}
	sharedMu.Unlock()
	return code
}

// URL returns the URL of a Redis for t to use; see the package comment for
// which one. Give every test its own key space with Prefix.
func URL(t testing.TB) string {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("redistest: call redistest.Main(m) from TestMain, so that a throwaway redis-server is stopped after the tests")
	}
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	bin := binary(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		sharedErr = startShared(bin)
	}
	if sharedErr != nil {
		t.Fatalf("redistest: starting redis-server: %v", sharedErr)
	}
	return shared.URL()
}

func startShared(bin string) error {
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	s := &Server{bin: bin, dir: dir}
	if err := s.startFreePort(); err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	shared = s
	return nil
}

// Prefix returns a key prefix unique to t and to this run of the test binary,
// so tests can share one Redis database, in parallel and across runs.
func Prefix(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r == ' ' || r == ':' || r > 0x7e {
			return '_'
		}
		return r
	}, t.Name())
	if len(name) > 48 {
		name = name[:48]
	}
	return fmt.Sprintf("wxauthtest:%s:%d:%s:", runID, prefix.Add(1), name)
}

func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails on supported platforms
	return hex.EncodeToString(b)
}

// binary returns the path of redis-server, or skips (fails under
// WXAUTH_REQUIRE_REDIS=1) when there is none.
func binary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis: set " + EnvURL + " (e.g. redis://127.0.0.1:6379/0) or install redis-server to run this test"
		if os.Getenv(EnvRequire) == "1" {
			t.Fatal(msg + " (" + EnvRequire + "=1)")
		}
		t.Skip(msg)
	}
	return bin
}

// Server is a redis-server process owned by one test, which may stop it
// (Redis going down) and start it again on the same port (coming back).
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  proctest.SyncBuffer
}

// StartServer starts a redis-server for t alone, stopped when t ends. It
// needs the redis-server binary; without it the test is skipped (fails under
// WXAUTH_REQUIRE_REDIS=1).
func StartServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{tb: t, bin: binary(t), dir: t.TempDir()}
	if err := s.startFreePort(); err != nil {
		t.Fatalf("redistest: starting redis-server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the server's redis:// URL, database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Stop kills the server, as a crash would, and waits until it has exited.
// Connections drop and the port refuses new ones. Stopping a stopped server
// does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop()
}

// Start starts a stopped server again on the same port, empty, and waits
// until it answers PING.
func (s *Server) Start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	if err := s.start(); err != nil {
		s.tb.Fatalf("redistest: restarting redis-server on %s: %v", s.Addr(), err)
	}
}

// startFreePort starts the server on a port that was free a moment ago,
// retrying in case another process took it in between.
func (s *Server) startFreePort() error {
	var err error
	for range 3 {
		if s.port, err = freePort(); err != nil {
			return err
		}
		if err = s.start(); err == nil {
			return nil
		}
	}
	return err
}

// start runs redis-server and waits for PING; the caller holds s.mu or owns s.
func (s *Server) start() error {
	s.log.Reset()
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "",
	)
	cmd.Dir = s.dir
	cmd.Stdout = &s.log
	cmd.Stderr = &s.log
	dieWithParent(cmd)

	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		// On Linux the child is killed when the thread that started it exits
		// (see dieWithParent), so this goroutine keeps its thread until the
		// child is gone; then the locked thread exits with it.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("exec %s: %w", s.bin, err)
	}
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(startTimeout)
	for {
		// Check the pid, not just PONG: another Redis may have taken the
		// port between freePort and our bind, and would answer for us.
		if pid, err := serverPID(s.Addr()); err == nil {
			if pid == cmd.Process.Pid {
				return nil
			}
			s.stop()
			return fmt.Errorf("port %d is taken by another Redis (pid %d)", s.port, pid)
		}
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("redis-server exited: %s", tail(&s.log))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("no PONG within %v: %s", startTimeout, tail(&s.log))
		}
	}
}

func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// serverPID asks the server at addr for its process id, with one short
// attempt and no retries, so that waiting for a server polls quickly.
func serverPID(addr string) (int, error) {
	rdb := redis.NewClient(&redis.Options{
		Addr:            addr,
		DialTimeout:     200 * time.Millisecond,
		ReadTimeout:     time.Second,
		MaxRetries:      -1,
		DialerRetries:   1,
		PoolSize:        1,
		DisableIdentity: true,
	})
	defer rdb.Close()
	info, err := rdb.Info(context.Background(), "server").Result()
	if err != nil {
		// Refused, or -LOADING and the like: not ready yet.
		return 0, err
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("INFO server has no process_id")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("finding a free port: not a TCP address")
	}
	return addr.Port, nil
}

// tail returns the last lines of the server's output, enough to say why a
// start failed.
func tail(log *proctest.SyncBuffer) string {
	out := log.String()
	if len(out) > 1000 {
		out = out[len(out)-1000:]
	}
	return strings.TrimSpace(out)
}
