// Package integration drives a real Caddy built from this repository
// (cmd/caddy) against the fake WeChat (wxmock) and a recording upstream.
package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/proctest"
	"github.com/wxauth/caddy-wxauth/internal/redistest"
	"github.com/wxauth/caddy-wxauth/wxmock"
)

// caddyBin is the Caddy binary built once for the whole test run.
var caddyBin string

func TestMain(m *testing.M) {
	proctest.Main("wxauth-it-", raceEnabled, []string{"../cmd/caddy"}, func(dir string) int {
		caddyBin = filepath.Join(dir, "caddy")
		return redistest.Run(m)
	})
}

const (
	testAppID  = "wx1234567890abcdef"
	testSecret = "s3cr3t-app-secret-0123456789abcdef"
)

// upstream is a backend that records the headers of every request it gets.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "headers": r.Header})
	}))
	t.Cleanup(u.Close)
	return u
}

// requests returns what the upstream has received so far.
func (u *upstream) requests() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]http.Header(nil), u.seen...)
}

func (u *upstream) last(t testing.TB) http.Header {
	t.Helper()
	seen := u.requests()
	if len(seen) == 0 {
		t.Fatal("upstream received no request")
	}
	return seen[len(seen)-1]
}

// caddy is a running cmd/caddy process.
type caddy struct {
	URL   string
	Admin string
	*proctest.Process
}

// siteConfig is what a test puts in front of the upstream.
type siteConfig struct {
	WeChatURL string // api_base
	Upstream  string // host:port
	Extra     string // more wxauth subdirectives
	Port      int    // 0 picks a free one
	Global    string // more global options, e.g. a servers block
}

// startCaddy runs Caddy with wxauth (debug logging on) in front of the upstream.
func startCaddy(t testing.TB, sc siteConfig) *caddy {
	t.Helper()
	if sc.Port == 0 {
		sc.Port = proctest.FreePort(t)
	}
	admin := proctest.FreePort(t)
	caddyfile := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	persist_config off
	debug
	storage file_system %s
	%s
}

http://127.0.0.1:%d {
	wxauth {
		app_id %s
		app_secret {env.WX_SECRET}
		api_base %s
		public /health /public/*
		require_phone /vip/*
		%s
	}
	reverse_proxy %s
}
`, admin, t.TempDir(), sc.Global, sc.Port, testAppID, sc.WeChatURL, sc.Extra, sc.Upstream)
	return runCaddy(t, caddyfile, sc.Port, admin)
}

func runCaddy(t testing.TB, caddyfile string, port, admin int) *caddy {
	t.Helper()
	c := &caddy{
		URL:     fmt.Sprintf("http://127.0.0.1:%d", port),
		Admin:   fmt.Sprintf("http://127.0.0.1:%d", admin),
		Process: startCaddyProcess(t, caddyfile),
	}
	c.WaitOK(t, c.URL+"/wx/.well-known/jwks.json")
	return c
}

// startCaddyProcess runs caddyfile and returns at once.
func startCaddyProcess(t testing.TB, caddyfile string) *proctest.Process {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddyBin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "WX_SECRET="+testSecret, "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	return proctest.Start(t, "caddy", cmd)
}

// logMarkers numbers logSoFar's requests, so each is told apart in the log.
var logMarkers atomic.Int64

// logSoFar returns Caddy's log once every line written before the call has
// arrived, up to those lines. Lines reach Logs through a pipe a moment after
// the answer they belong to, so a check that something is absent from the
// log must first know the log is complete: logSoFar sends a request whose
// debug line (reverse_proxy's "upstream roundtrip" names the URI) is unique
// and waits for it. It needs startCaddy's site (debug on, /public/* public)
// and its upstream still running.
func (c *caddy) logSoFar(t testing.TB) string {
	t.Helper()
	marker := fmt.Sprintf("/public/log-so-far-%d", logMarkers.Add(1))
	if r := do(t, "GET", c.URL+marker, "", ""); r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", marker, r.Status, r.Body)
	}
	needle := `"uri":"` + marker + `"`
	log := c.WaitLog(t, "the debug line of GET "+marker, func(log string) bool {
		return strings.Contains(log, needle)
	})
	i := strings.Index(log, needle)
	return log[:strings.LastIndex(log[:i], "\n")+1]
}

// world is a Caddy with wxauth between a fake WeChat and a recording upstream.
type world struct {
	mock     *wxmock.Server
	wechat   *httptest.Server
	upstream *upstream
	caddy    *caddy
}

func newWorld(t testing.TB, extra string) *world {
	t.Helper()
	w := &world{mock: wxmock.New(wxmock.Config{AppID: testAppID, AppSecret: testSecret})}
	w.wechat = httptest.NewServer(w.mock)
	t.Cleanup(w.wechat.Close)
	w.upstream = newUpstream(t)
	w.caddy = w.another(t, extra)
	return w
}

// another starts one more Caddy in front of the same WeChat and upstream, as
// a second instance of a cluster.
func (w *world) another(t testing.TB, extra string) *caddy {
	t.Helper()
	return startCaddy(t, siteConfig{
		WeChatURL: w.wechat.URL,
		Upstream:  strings.TrimPrefix(w.upstream.URL, "http://"),
		Extra:     extra,
	})
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not JSON (%v): %q", err, r.Body)
	}
	return m
}

// client opens a connection per request: Caddy instances restart and
// reload under the tests, and a kept-alive connection would outlive them.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// do sends a request with a JSON body, if any; token, when set, goes in
// Authorization: Bearer.
func do(t testing.TB, method, url, token, body string) response {
	t.Helper()
	contentType := ""
	if body != "" {
		contentType = "application/json"
	}
	return doAs(t, method, url, token, contentType, body)
}

// doAs is do with the body's Content-Type given.
func doAs(t testing.TB, method, url, token, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return roundTrip(t, req)
}

// roundTrip sends req and reads the whole answer.
func roundTrip(t testing.TB, req *http.Request) response {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// login logs user in through the world's first Caddy and returns the token.
func (w *world) login(t testing.TB, user string) string {
	t.Helper()
	return w.loginVia(t, w.caddy, user)
}

// loginVia logs user in through Caddy c and returns the token.
func (w *world) loginVia(t testing.TB, c *caddy, user string) string {
	t.Helper()
	r := do(t, "POST", c.URL+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, w.mock.Code(user)))
	if r.Status != http.StatusOK {
		t.Fatalf("login %s: %d %s", user, r.Status, r.Body)
	}
	tok, _ := r.JSON(t)["token"].(string)
	if tok == "" {
		t.Fatalf("login %s: no token in %s", user, r.Body)
	}
	return tok
}

// dialAndSend opens a fresh connection to baseURL, with a 10 s deadline, and writes
// request to it as is.
func dialAndSend(t testing.TB, baseURL, request string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(baseURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		conn.Close()
		t.Fatal(err)
	}
	return conn
}

// raw sends bytes as one HTTP/1.1 request over a fresh connection, so header
// names reach Caddy exactly as written (Go's client would canonicalize them).
func raw(t testing.TB, baseURL, request string) response {
	t.Helper()
	conn := dialAndSend(t, baseURL, request)
	defer conn.Close()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// wantError checks an error answer as the README's error table describes
// it: the status, {"error": code, "message": …} and a JSON Content-Type.
func wantError(t testing.TB, r response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if got := r.JSON(t)["error"]; got != code {
		t.Fatalf("error = %v, want %q; body %s", got, code, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
}
