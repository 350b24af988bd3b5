package examples

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/proctest"
)

// scripts/demo.sh, what `make demo` runs, started on free ports.

func TestCtrlCStopsTheDemoWithExitStatusZeroAndLeavesNothingListening(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("scripts/demo.sh is a bash script that stops its servers with signals")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("scripts/demo.sh needs bash, which is not on PATH")
	}
	// Not parallel: demo.sh writes bin/, as make demo in
	// TestEveryReadmeCommandBlockRunsWordForWord does.
	stops := []struct {
		name string
		stop func(p *proctest.Process)
	}{
		// A terminal sends SIGINT to every process of the foreground group.
		{"Ctrl-C, SIGINT to the process group", func(p *proctest.Process) { p.Interrupt() }},
		// A service manager, or kill <pid>, signals the script alone.
		{"SIGTERM to the script alone", func(p *proctest.Process) { p.Cmd.Process.Signal(syscall.SIGTERM) }},
	}
	for _, tc := range stops {
		t.Run(tc.name, func(t *testing.T) {
			d := startDemo(t)
			tc.stop(d.p)
			state := d.p.Wait(30 * time.Second)
			if state == nil {
				t.Fatalf("demo.sh still runs 30s after the signal:\n%s", d.p.Logs)
			}
			if !state.Success() {
				t.Errorf("demo.sh ended with %v, want exit status 0:\n%s", state, d.p.Logs)
			}
			for _, addr := range d.addrs {
				if err := waitClosed(addr, 5*time.Second); err != nil {
					t.Errorf("after demo.sh exited: %v", err)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for proctest.GroupAlive(d.p.Cmd) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if proctest.GroupAlive(d.p.Cmd) {
				t.Errorf("processes demo.sh started outlive it")
			}
		})
	}
}

type demo struct {
	p     *proctest.Process
	addrs []string // where it listens: the site, the upstream, admin, wxmock
}

// startDemo runs scripts/demo.sh on free ports and waits until a login
// through it works, which needs both Caddy and wxmock.
func startDemo(t *testing.T) demo {
	t.Helper()
	addr := func() string { return fmt.Sprintf("127.0.0.1:%d", proctest.FreePort(t)) }
	site, upstream, wechat := addr(), addr(), addr()
	admin := proctest.FreePort(t)
	cmd := exec.Command("bash", "scripts/demo.sh")
	cmd.Dir = ".."
	cmd.Env = append(readmeEnv(t), "WXAUTH_DEMO_ADDR="+site, "WXAUTH_DEMO_UPSTREAM="+upstream,
		fmt.Sprintf("WXAUTH_DEMO_ADMIN=%d", admin), "WXMOCK_ADDR="+wechat)
	d := demo{p: startProcess(t, "demo.sh", cmd), addrs: []string{site, upstream, fmt.Sprintf("127.0.0.1:%d", admin), wechat}}
	d.p.WaitOKWithin(t, "http://"+site+"/wx/.well-known/jwks.json", readmeTimeout)
	d.p.WaitOK(t, "http://"+wechat+"/mock/stats")

	var minted struct{ Code, OpenID string }
	getJSON(t, "http://"+wechat+"/mock/code?user=alice", &minted)
	var login struct{ OpenID string }
	postJSON(t, "http://"+site+"/wx/login", fmt.Sprintf(`{"code":%q}`, minted.Code), &login)
	if login.OpenID == "" || login.OpenID != minted.OpenID {
		t.Fatalf("login through the demo gave openid %q, want %q:\n%s", login.OpenID, minted.OpenID, d.p.Logs)
	}
	return d
}

// getJSON GETs url, which must answer 200, and decodes the body into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	decode200(t, "GET "+url, resp, v)
}

// postJSON POSTs body as JSON to url, which must answer 200, and decodes
// the answer into v.
func postJSON(t *testing.T, url, body string, v any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	decode200(t, "POST "+url, resp, v)
}

func decode200(t *testing.T, what string, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", what, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v in %s", what, err, raw)
	}
}
