// Package proctest runs this repository's programs for tests: it builds
// them once, starts them with their output kept, waits until they serve and
// stops them when the test ends.
package proctest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Main is for TestMain: it builds pkgs (paths as go build takes them) into
// a temporary directory, with -race when race is set, calls run with that
// directory and exits with run's code, or 1 if the build failed. Each
// binary is named after its package's directory.
func Main(dirPattern string, race bool, pkgs []string, run func(binDir string) int) {
	os.Exit(buildAndRun(dirPattern, race, pkgs, run))
}

func buildAndRun(dirPattern string, race bool, pkgs []string, run func(string) int) int {
	dir, err := os.MkdirTemp("", dirPattern)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if race {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, pkgs...)...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building %s: %v\n", strings.Join(pkgs, " and "), err)
		return 1
	}
	return run(dir)
}

// FreePort returns a loopback port nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	handedOut.mu.Lock()
	defer handedOut.mu.Unlock()
	// The kernel may give a port just closed to the next caller: a test
	// that asks for two (a site and its upstream) must get two.
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port
		}
	}
	t.Fatal("proctest: no port that was not handed out already")
	return 0
}

// handedOut is every port FreePort has returned in this process.
var handedOut = struct {
	mu    sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// SyncBuffer is a bytes.Buffer that a process's output copiers may write
// while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *SyncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

// Process is a started command whose output is in Logs: stdout and stderr,
// or stderr only when the caller gave the command a Stdout of its own.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Logs *SyncBuffer

	done     chan struct{} // closed when Cmd has exited
	stopOnce sync.Once
}

// Start starts cmd and stops it when t ends. A cmd that InProcessGroup made
// a group leader is stopped with its whole group. A Stdout already set on
// cmd is kept, for a test that reads what the command prints apart from
// what it logs.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Name: name, Cmd: cmd, Logs: &SyncBuffer{}, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.Logs
	}
	cmd.Stderr = p.Logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Stop)
	return p
}

// Stop interrupts the process, kills it (or what is left of its group)
// after 10 s, and waits until it has exited. Only the first call acts.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		interrupt(p.Cmd)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
		Kill(p.Cmd)
		<-p.done
	})
}

// Interrupt sends SIGINT to the process, or to its whole group when
// InProcessGroup made it a leader: what Ctrl-C in a terminal does. Unlike
// Stop it neither waits nor kills; see Wait.
func (p *Process) Interrupt() { interrupt(p.Cmd) }

// Wait waits up to timeout for the process to exit and returns how it
// exited, or nil if it still runs.
func (p *Process) Wait(timeout time.Duration) *os.ProcessState {
	select {
	case <-p.done:
		return p.Cmd.ProcessState
	case <-time.After(timeout):
		return nil
	}
}

// WaitOK polls url until it answers 200 OK. It fails t, showing the
// process's output, if the process exits first or 30 s pass.
func (p *Process) WaitOK(t testing.TB, url string) {
	t.Helper()
	p.WaitOKWithin(t, url, 30*time.Second)
}

// WaitOKWithin is WaitOK with another timeout, for a process that builds
// something (go run, make) before it serves.
func (p *Process) WaitOKWithin(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("%s exited early:\n%s", p.Name, p.Logs)
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 at %s within %v:\n%s", p.Name, url, timeout, p.Logs)
}

// WaitListening polls addr (host:port) until something accepts TCP
// connections there. It fails t, showing the process's output, if the
// process exits first or timeout passes.
func (p *Process) WaitListening(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !Listening(addr) {
		select {
		case <-p.done:
			t.Fatalf("%s exited early:\n%s", p.Name, p.Logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s %v after %s started:\n%s", addr, timeout, p.Name, p.Logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// LogTimeout is how long WaitLog waits.
const LogTimeout = 10 * time.Second

// WaitLog polls the process's output until ok holds for it, and returns
// that output. A server writes the log line of a request before it answers,
// but the line still passes through a pipe and the goroutine copying it into
// Logs, so a test that reads Logs right after the answer may not find it
// yet. It fails t, showing the output, if ok does not hold within
// LogTimeout; what says what the test waited for.
func (p *Process) WaitLog(t testing.TB, what string, ok func(log string) bool) string {
	t.Helper()
	deadline := time.Now().Add(LogTimeout)
	for {
		log := p.Logs.String()
		if ok(log) {
			return log
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's output lacks %s after %v:\n%s", p.Name, what, LogTimeout, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Listening reports whether something accepts TCP connections at addr
// (host:port).
func Listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
