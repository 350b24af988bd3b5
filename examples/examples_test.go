// Package examples has no code, only these tests: they keep examples/, the
// READMEs' commands, the demo, every Caddyfile, the root Dockerfile and
// xcaddy.mk working with the plugin as this repository builds it. Each
// example runs for real where its tools exist (redis-server, bash and curl,
// php-cgi, node, python3, jq, make) and is skipped, saying why, where not.
package examples

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/proctest"
	"github.com/wxauth/caddy-wxauth/internal/redistest"
	"github.com/wxauth/caddy-wxauth/wxmock"
)

// Binaries built once from this repository by TestMain.
var caddyBin, wxmockBin string

func TestMain(m *testing.M) {
	proctest.Main("wxauth-examples-", false, []string{"../cmd/caddy", "../cmd/wxmock"}, func(dir string) int {
		caddyBin, wxmockBin = filepath.Join(dir, "caddy"), filepath.Join(dir, "wxmock")
		return redistest.Run(m)
	})
}

const (
	testAppID  = "wx0123456789abcdef"
	testSecret = "examples-test-secret-0123456789"
)

// caddyEnv is the environment every Caddy here runs with: os.Environ plus
// the app's credentials, Caddy's data in a temporary directory, and extra.
func caddyEnv(t *testing.T, extra ...string) []string {
	dir := t.TempDir()
	env := append(os.Environ(), "WX_APPID="+testAppID, "WX_SECRET="+testSecret,
		"HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	return append(env, extra...)
}

func TestEveryExampleCaddyfileValidatesAndKeepsSecretsOutOfTheAdaptedJSON(t *testing.T) {
	tests := []struct {
		file       string
		needsRedis bool
		secrets    []string // more than WX_SECRET's, as VAR=secret
	}{
		{"legacy-upstreams/Caddyfile", false, nil},
		{"cluster/Caddyfile.a", true, nil},
		{"cluster/Caddyfile.b", true, nil},
		{"cluster/Caddyfile.lb", false, nil},
		{"docker/Caddyfile", true, nil},
		{"cloudrun-migration/Caddyfile", true, nil},
		// An official account and a website, each with its own AppSecret.
		{"h5/Caddyfile", false, []string{"WX_OA_SECRET=h5-oa-secret-0123456789", "WX_SITE_SECRET=h5-site-secret-0123456789"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			extra := slices.Clone(tc.secrets)
			secrets := []string{testSecret}
			for _, kv := range tc.secrets {
				_, secret, _ := strings.Cut(kv, "=")
				secrets = append(secrets, secret)
			}
			if tc.needsRedis {
				// validate provisions the store, so it needs a Redis that answers.
				url := redistest.URL(t)
				extra = append(extra, "REDIS_URL="+url, "WXAUTH_KEY_PREFIX="+redistest.Prefix(t))
				secrets = append(secrets, url)
			}
			env := caddyEnv(t, extra...)
			for _, cmd := range []string{"validate", "adapt"} {
				c := exec.Command(caddyBin, cmd, "--config", tc.file, "--adapter", "caddyfile")
				c.Env = env
				out, err := c.CombinedOutput()
				if err != nil {
					t.Fatalf("caddy %s --config %s: %v\n%s", cmd, tc.file, err, out)
				}
				if cmd == "adapt" {
					for _, s := range secrets {
						if bytes.Contains(out, []byte(s)) {
							t.Fatalf("caddy adapt shows %q, which should be read only at load time ({env.…}):\n%s", s, out)
						}
					}
				}
			}
		})
	}
}

func TestTheClusterScriptPassesAgainstARealRedis(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("examples/cluster/run.sh needs %s, which is not on PATH", tool)
		}
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "cluster/run.sh")
	cmd.Env = append(caddyEnv(t),
		"CADDY_BIN="+caddyBin, "WXMOCK_BIN="+wxmockBin,
		"REDIS_URL="+redistest.URL(t), "WXAUTH_KEY_PREFIX="+redistest.Prefix(t))
	out := &proctest.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	proctest.InProcessGroup(cmd)
	err := cmd.Run()
	proctest.Kill(cmd)
	if ctx.Err() != nil {
		t.Fatalf("run.sh did not finish within 45s:\n%s", out)
	}
	if err != nil {
		t.Fatalf("run.sh failed (%v):\n%s", err, out)
	}
	for _, want := range []string{"landed on a and b", "both instances refuse the token", "\nPASS\n"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("run.sh output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("run.sh:\n%s", out)
}

func TestTheMiniProgramLogsInRetriesOnceOn401AndBindsThePhoneWithoutLoggingIn(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not on PATH: the mini program example is checked with a Node harness (Debian: nodejs)")
	}
	t.Parallel()
	mock := wxmock.New(wxmock.Config{AppID: testAppID, AppSecret: testSecret})
	wechat := httptest.NewServer(mock)
	t.Cleanup(wechat.Close)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"openid": r.Header.Get("X-OpenID"), "phone": r.Header.Get("X-Phone")})
	}))
	t.Cleanup(backend.Close)

	port := proctest.FreePort(t)
	caddyfile := filepath.Join(t.TempDir(), "Caddyfile")
	config := fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
}
http://127.0.0.1:%d {
	wxauth {
		app_id {$WX_APPID}
		app_secret {env.WX_SECRET}
		api_base %s
	}
	reverse_proxy %s
}
`, port, wechat.URL, strings.TrimPrefix(backend.URL, "http://"))
	if err := os.WriteFile(caddyfile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	site := fmt.Sprintf("http://127.0.0.1:%d", port)
	startCaddy(t, caddyfile, caddyEnv(t), site)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "testdata/miniprogram_harness.js", "miniprogram")
	cmd.Env = append(os.Environ(), "API_BASE="+site, "WECHAT="+wechat.URL)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.HasSuffix(out, []byte("PASS\n")) {
		t.Fatalf("the mini program harness failed (%v):\n%s", err, out)
	}
	t.Logf("harness:\n%s", out)
}

// --- processes ----------------------------------------------------------------

// startCaddy runs `caddy run` on config and waits until readyURL serves the
// JWKS, which only wxauth answers.
func startCaddy(t *testing.T, config string, env []string, readyURL string) {
	t.Helper()
	cmd := exec.Command(caddyBin, "run", "--config", config, "--adapter", "caddyfile")
	cmd.Env = env
	startProcess(t, "caddy", cmd).WaitOK(t, readyURL+"/wx/.well-known/jwks.json")
}

// startProcess starts cmd in its own process group, stopped with it when t
// ends. Failing tests show its output.
func startProcess(t *testing.T, name string, cmd *exec.Cmd) *proctest.Process {
	t.Helper()
	proctest.InProcessGroup(cmd)
	p := proctest.Start(t, name, cmd)
	// Runs before Start's cleanup: stop first, so the output is complete.
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.Logs)
		}
	})
	return p
}

// --- HTTP ---------------------------------------------------------------------

func login(t *testing.T, site, code string) string {
	t.Helper()
	resp, err := http.Post(site+"/wx/login", "application/json", strings.NewReader(fmt.Sprintf(`{"code":%q}`, code)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.Token == "" {
		t.Fatalf("login: %d, %v, token %q", resp.StatusCode, err, body.Token)
	}
	return body.Token
}

// get sends GET url with the token (if any) and the extra headers, written
// exactly as given.
func get(t *testing.T, url, token string, headers map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header[k] = []string{v}
	}
	return do(t, req)
}

// do sends req and reads the whole answer.
func do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// --- build files, checked statically --------------------------------------------

// goModVersions returns the go directive and Caddy's version from ../go.mod.
func goModVersions(t *testing.T) (goVersion, caddyVersion string) {
	t.Helper()
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	g := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)\s*$`).FindSubmatch(mod)
	c := regexp.MustCompile(`(?m)^\s*(?:require\s+)?github\.com/caddyserver/caddy/v2 (v\S+)`).FindSubmatch(mod)
	if g == nil || c == nil {
		t.Fatal("go.mod: no go directive or no github.com/caddyserver/caddy/v2 requirement")
	}
	return string(g[1]), string(c[1])
}

// majorMinor turns v2.11.9 or 1.26.8 into 2.11 or 1.26.
func majorMinor(v string) string {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, …
	args string
}

func readDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if more, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " ")})
		cur.Reset()
	}
	return out
}

func TestTheDockerfileBuildsThisCheckoutWithXcaddyOnGoModsCaddyRelease(t *testing.T) {
	// hadolint, the usual Dockerfile linter, is not packaged for Debian; these
	// are the checks that matter here.
	_, caddyVersion := goModVersions(t)
	want := majorMinor(caddyVersion)
	ins := readDockerfile(t, "../Dockerfile")

	var froms []string
	for _, in := range ins {
		if in.cmd == "FROM" {
			froms = append(froms, in.args)
		}
	}
	if len(froms) != 2 {
		t.Fatalf("want two stages (builder, runtime), got FROM %q", froms)
	}
	if froms[0] != "caddy:"+want+"-builder AS builder" {
		t.Errorf("first stage is FROM %s, want FROM caddy:%s-builder AS builder (go.mod has Caddy %s)", froms[0], want, caddyVersion)
	}
	if froms[1] != "caddy:"+want {
		t.Errorf("second stage is FROM %s, want FROM caddy:%s (go.mod has Caddy %s)", froms[1], want, caddyVersion)
	}

	var build string
	copied := false
	for i, in := range ins {
		if in.cmd == "RUN" && strings.HasPrefix(in.args, "xcaddy build") {
			build = in.args
		}
		if in.cmd == "COPY" && in.args == "--from=builder /usr/bin/caddy /usr/bin/caddy" {
			copied = i > indexOfFrom(ins, 2)
		}
	}
	if build == "" {
		t.Fatal("no RUN xcaddy build in the builder stage")
	}
	if !copied {
		t.Error("the runtime stage lacks COPY --from=builder /usr/bin/caddy /usr/bin/caddy")
	}
	checkXcaddyArgs(t, build)
	if !strings.Contains(build, "--output /usr/bin/caddy") {
		t.Errorf("xcaddy build writes to ./caddy in its WORKDIR unless told: want --output /usr/bin/caddy in %q", build)
	}
}

func indexOfFrom(ins []instruction, n int) int {
	for i, in := range ins {
		if in.cmd == "FROM" {
			if n--; n == 0 {
				return i
			}
		}
	}
	return len(ins)
}

// checkXcaddyArgs checks that an xcaddy build command plugs in a package of
// this module that exists and points the module at the checkout (./ or .).
func checkXcaddyArgs(t *testing.T, build string) {
	t.Helper()
	const module = "github.com/wxauth/caddy-wxauth"
	fields := strings.Fields(build)
	local, plugged := false, false
	for i := 0; i+1 < len(fields); i++ {
		flag, arg := fields[i], fields[i+1]
		if flag != "--with" && flag != "--replace" {
			continue
		}
		path, repl, hasRepl := strings.Cut(arg, "=")
		if hasRepl && path == module && (repl == "./" || repl == ".") {
			local = true
		}
		if flag == "--with" && (path == module || strings.HasPrefix(path, module+"/")) {
			dir := filepath.Join("..", strings.TrimPrefix(strings.TrimPrefix(path, module), "/"))
			if !hasGoPackage(dir) {
				t.Errorf("--with %s: %s holds no Go package for xcaddy's main.go to import", arg, dir)
			}
			plugged = true
		}
	}
	if !plugged {
		t.Errorf("%q plugs in no package of %s", build, module)
	}
	if !local {
		t.Errorf("%q does not build this checkout: want --with %s=./ or --replace %s=./", build, module, module)
	}
}

func hasGoPackage(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			return true
		}
	}
	return false
}

func TestTheDockerignoreKeepsWhatTheBuildNeeds(t *testing.T) {
	raw, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(raw)) {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		for _, need := range []string{"go.mod", "go.sum", "caddymodule", "cmd", "wxmock", "auth", "session", "token", "wechat"} {
			if ok, _ := filepath.Match(p, need); ok {
				t.Errorf(".dockerignore pattern %q leaves %s out of the build context", p, need)
			}
		}
	}
}

func TestTheDockerExampleUsesPinnedImagesAndFilesThatExist(t *testing.T) {
	goVersion, _ := goModVersions(t)
	ins := readDockerfile(t, "docker/wxmock.Dockerfile")
	if len(ins) == 0 || ins[0].cmd != "FROM" || !strings.HasPrefix(ins[0].args, "golang:"+majorMinor(goVersion)+" ") {
		t.Errorf("docker/wxmock.Dockerfile should build with golang:%s (go.mod says go %s), got %v", majorMinor(goVersion), goVersion, ins[0])
	}
	checkComposeFile(t, "docker")
}

// checkComposeFile checks dir/compose.yaml without a Docker engine: every
// image, its own and those of the Dockerfiles it builds, is pinned to a
// version tag; the Dockerfiles and the paths it mounts exist; and a Compose
// binary, where one is installed, finds it valid.
func checkComposeFile(t *testing.T, dir string) {
	t.Helper()
	file := filepath.Join(dir, "compose.yaml")
	compose, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	images := []string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*dockerfile:\s*(\S+)`).FindAllSubmatch(compose, -1) {
		// Every build uses the repository root (../..) as its context.
		dockerfile := filepath.Join("..", string(m[1]))
		if _, err := os.Stat(dockerfile); err != nil {
			t.Errorf("%s names dockerfile %s: %v", file, m[1], err)
			continue
		}
		for _, in := range readDockerfile(t, dockerfile) {
			if in.cmd == "FROM" {
				images = append(images, strings.Fields(in.args)[0])
			}
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*image:\s*(\S+)`).FindAllSubmatch(compose, -1) {
		images = append(images, string(m[1]))
	}
	for _, img := range images {
		name, tag, ok := strings.Cut(img, ":")
		if !ok || tag == "" || tag == "latest" || strings.HasSuffix(tag, "-latest") {
			t.Errorf("%s: image %s: pin a version tag (got %q for %s)", file, img, tag, name)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*-\s*(\.\.?/[^:\s]+):`).FindAllSubmatch(compose, -1) {
		if _, err := os.Stat(filepath.Join(dir, string(m[1]))); err != nil {
			t.Errorf("%s mounts %s: %v", file, m[1], err)
		}
	}
	// A Compose binary checks the file against the Compose spec, no daemon
	// needed. `docker` without its compose plugin is no Compose binary.
	for _, c := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		if _, err := exec.LookPath(c[0]); err != nil {
			continue
		}
		if exec.Command(c[0], append(c[1:], "version")...).Run() != nil {
			continue
		}
		args := append(slices.Clone(c[1:]), "-f", file, "config", "-q")
		if out, err := exec.Command(c[0], args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", c[0], strings.Join(args, " "), err, out)
		}
		return
	}
	t.Logf("no docker compose / docker-compose here: %s checked by the rules above only", file)
}

func TestXcaddyMkBuildsGoModsCaddyWithTheSamePluginAsTheDockerfile(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not on PATH")
	}
	_, caddyVersion := goModVersions(t)
	// -n prints the commands without running them; XCADDY names a stand-in so
	// nothing gets installed.
	cmd := exec.Command("make", "-n", "-f", "xcaddy.mk", "XCADDY=xcaddy", "xcaddy-test")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n -f xcaddy.mk xcaddy-test: %v\n%s", err, out)
	}
	var build string
	for line := range strings.Lines(strings.ReplaceAll(string(out), "\\\n", " ")) {
		if _, cmd, ok := strings.Cut(line, "xcaddy build"); ok {
			build = "xcaddy build" + strings.TrimRight(cmd, "\n")
		}
	}
	if !strings.HasPrefix(build, "xcaddy build "+caddyVersion+" ") {
		t.Fatalf("xcaddy-build runs %q, want xcaddy build %s (go.mod's Caddy) …", build, caddyVersion)
	}
	checkXcaddyArgs(t, build)
	for _, want := range []string{"list-modules | grep -x 'http.handlers.wxauth'", "validate --config Caddyfile"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("xcaddy-test does not run %q:\n%s", want, out)
		}
	}
}
