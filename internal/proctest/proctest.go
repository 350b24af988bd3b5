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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

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

// Process is a started command whose output (stdout and stderr) is in Logs.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Logs *SyncBuffer

	done     chan struct{} // closed when Cmd has exited
	stopOnce sync.Once
}

// Start starts cmd and stops it when t ends. A cmd that InProcessGroup made
// a group leader is stopped with its whole group.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Name: name, Cmd: cmd, Logs: &SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Logs, p.Logs
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

// WaitOK polls url until it answers 200 OK. It fails t, showing the
// process's output, if the process exits first or 30 s pass.
func (p *Process) WaitOK(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
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
	t.Fatalf("%s did not answer 200 at %s within 30s:\n%s", p.Name, url, p.Logs)
}
