package examples

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/proctest"
	"github.com/wxauth/caddy-wxauth/internal/redistest"
)

// The READMEs' commands, run word for word against real processes: every
// ```sh block of every README (and SECURITY.md) is either run or listed
// below with the reason it cannot run here.

// readmePlans say how each README's sh blocks run, in the README's order.
// A block is found by its first line; a README that gains a block, or a
// block whose first line changes, fails the test until this list says how
// to run it.
var readmePlans = []readmePlan{
	{file: "../README.md", dir: "..", blocks: []blockPlan{
		{first: "make demo ", tools: []string{"make", "go"}, serve: &serve{
			ready:         []string{"http://127.0.0.1:8080/wx/.well-known/jwks.json", "http://127.0.0.1:9090/mock/stats"},
			ports:         []string{"127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:9090", "127.0.0.1:2019"},
			ctrlCStopsAll: true,
		}},
		{first: "CODE=$(curl ", tools: []string{"curl", "sed"}},
		{first: "PCODE=$(curl ", tools: []string{"curl", "sed"}},
		{first: "go test -race ./...", notHere: "it is the test suite this test belongs to: run from here it would run itself (CI runs it)"},
		{first: "xcaddy build --with github.com/wxauth/caddy-wxauth", notHere: "xcaddy fetches Caddy and the plugin from the internet and tests run offline; CI builds the same plugin with `make xcaddy-test`"},
		{first: "go run ./cmd/wxmock ", tools: []string{"go"}, serve: &serve{
			ready:         []string{"http://127.0.0.1:9090/mock/stats"},
			ports:         []string{"127.0.0.1:9090"},
			ctrlCStopsAll: true,
		}},
		{first: "curl 'http://127.0.0.1:9090/mock/code?user=alice' ", tools: []string{"curl", "sed"}},
	}},
	{file: "cloudrun-migration/README.md", dir: "cloudrun-migration", redis: true, blocks: []blockPlan{
		{first: "docker compose up --build -d", tools: []string{"node", "jq", "curl"},
			notHere: "no Docker engine where tests run, and its images come from the internet: the docker compose lines are left out, and the test starts the services compose.yaml would (Redis, wxmock, node server.js, Caddy with this Caddyfile) as processes",
			skip:    "docker compose ", standIn: cloudRunStandIn},
	}},
	{file: "cluster/README.md", dir: "..", redis: true, blocks: []blockPlan{
		{first: "examples/cluster/run.sh ", tools: []string{"bash", "curl", "go"}},
	}},
	{file: "docker/README.md", dir: "docker", redis: true, blocks: []blockPlan{
		{first: "docker compose up --build -d", tools: []string{"node", "jq", "curl"},
			notHere: "no Docker engine where tests run, and its images come from the internet: the docker compose lines are left out, and the test starts the services compose.yaml would (Redis, wxmock, the Node app, Caddy with this Caddyfile) as processes",
			skip:    "docker compose ", standIn: dockerStandIn},
		{first: "docker build -t caddy-wxauth ../..", notHere: "no Docker engine where tests run, and the build pulls caddy images from the internet; TestTheDockerfileBuildsThisCheckoutWithXcaddyOnGoModsCaddyRelease checks the Dockerfile"},
	}},
	{file: "h5/README.md", dir: "h5", blocks: []blockPlan{
		{first: "make -C ../.. build ", tools: []string{"make", "go"}, serve: &serve{
			ready: []string{"http://localhost:8096/wx/.well-known/jwks.json", "http://127.0.0.1:9090/mock/stats"},
			ports: []string{"127.0.0.1:8096", "127.0.0.1:8097", "127.0.0.1:9090"},
			// The README stops the fake WeChat with kill %1, which is for
			// the user's interactive shell; the test kills it.
		}},
		{first: "curl -s -X POST ", tools: []string{"curl"}},
	}},
	{file: "legacy-upstreams/README.md", dir: "legacy-upstreams", blocks: []blockPlan{
		{first: "make -C ../.. build ", tools: []string{"make", "go", "php-cgi", "node", "python3"}, serve: &serve{
			ready: []string{"http://127.0.0.1:8092/wx/.well-known/jwks.json", "http://127.0.0.1:9090/mock/stats",
				"127.0.0.1:9000", "127.0.0.1:3000", "127.0.0.1:5000"},
			ports: []string{"127.0.0.1:8091", "127.0.0.1:8092", "127.0.0.1:8093", "127.0.0.1:8094", "127.0.0.1:9090",
				"127.0.0.1:9000", "127.0.0.1:3000", "127.0.0.1:5000"},
			// The README stops the background jobs with kill %1 …, which
			// is for the user's interactive shell; the test kills them.
		}},
		{first: "code=$(curl ", tools: []string{"curl", "jq"}},
		{first: "curl -X POST ", tools: []string{"curl", "jq"}},
	}},
}

type readmePlan struct {
	file   string // relative to examples/
	dir    string // where the README's commands run, relative to examples/
	redis  bool   // REDIS_URL in the environment, from internal/redistest
	blocks []blockPlan
}

// blockPlan says how one sh block runs. By default it runs in the README's
// shell session (one bash per README, as in one terminal, so a variable one
// block sets is there for the next), each command checked to exit 0 and to
// print what a following "# {…}" comment shows, "…" standing for anything.
type blockPlan struct {
	first string   // the block's first line starts with this
	tools []string // commands the block needs on PATH

	// serve is for a block that starts servers and stays in the foreground:
	// the README runs it in a terminal of its own.
	serve *serve

	// notHere is why the block does not run here. Alone, the block is not
	// run at all. With standIn, standIn starts what the skipped lines (those
	// starting with skip) would have, and the other lines run.
	notHere string
	skip    string
	standIn func(t *testing.T, env []string)
}

// serve is a block run in the background, in a process group of its own,
// until the README's next serve block or its end, then stopped as Ctrl-C
// stops it: SIGINT to the group.
type serve struct {
	ready []string // URLs that answer 200 and host:ports that accept once it serves
	ports []string // host:ports it listens on, which must be free before it starts
	// ctrlCStopsAll: after Ctrl-C nothing it started may still listen.
	ctrlCStopsAll bool
}

// readmeTimeout bounds one command or one server's start: some build Caddy.
const readmeTimeout = 3 * time.Minute

func TestEveryReadmeCommandBlockRunsWordForWord(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the READMEs' commands need %s, which is not on PATH", tool)
		}
	}
	// Not parallel: the READMEs' servers listen on fixed ports, and make
	// writes bin/ as TestCtrlCStopsTheDemoWithExitStatusZeroAndLeavesNothingListening does.
	planned := map[string]readmePlan{}
	for _, p := range readmePlans {
		planned[filepath.Clean(p.file)] = p
	}
	for _, file := range readmeFiles(t) {
		var blocks []fence
		for _, f := range readFences(t, file) {
			if f.shell() {
				blocks = append(blocks, f)
			}
		}
		plan, ok := planned[filepath.Clean(file)]
		if !ok {
			if len(blocks) > 0 {
				t.Errorf("%s has %d sh blocks and no plan in readmePlans: say how to run them", file, len(blocks))
			}
			continue
		}
		delete(planned, filepath.Clean(file))
		if !plan.matches(t, blocks) {
			continue
		}
		t.Run(strings.TrimPrefix(file, "../"), func(t *testing.T) { plan.run(t, blocks) })
	}
	for file := range planned {
		t.Errorf("readmePlans names %s, which is not a README here", file)
	}
}

// matches reports whether blocks are, in order, the blocks plan expects.
func (plan readmePlan) matches(t *testing.T, blocks []fence) bool {
	t.Helper()
	ok := len(blocks) == len(plan.blocks)
	for i := 0; ok && i < len(blocks); i++ {
		ok = strings.HasPrefix(blocks[i].firstLine()+" ", plan.blocks[i].first)
	}
	if !ok {
		var got, want []string
		for _, b := range blocks {
			got = append(got, fmt.Sprintf("%d: %s", b.line, b.firstLine()))
		}
		for _, b := range plan.blocks {
			want = append(want, b.first+"…")
		}
		t.Errorf("%s: its sh blocks begin\n\t%s\nbut readmePlans expects\n\t%s\nUpdate readmePlans to say how to run them.",
			plan.file, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	return ok
}

func (plan readmePlan) run(t *testing.T, blocks []fence) {
	var missing []string
	for _, b := range plan.blocks {
		for _, tool := range b.tools {
			if _, err := exec.LookPath(tool); err != nil && !strings.Contains(strings.Join(missing, " "), tool) {
				missing = append(missing, tool)
			}
		}
	}
	if len(missing) > 0 {
		t.Skipf("%s's commands need %s, not on PATH (Debian: make, golang, php-cgi, nodejs, python3, jq)", plan.file, strings.Join(missing, ", "))
	}
	env := readmeEnv(t)
	if plan.redis {
		env = append(env, "REDIS_URL="+redistest.URL(t))
	}
	sh := startShell(t, plan.dir, env)
	var server *serving
	defer func() { server.stop(t) }()
	for i, b := range plan.blocks {
		block := blocks[i]
		switch {
		case b.serve != nil:
			server.stop(t)
			server = startServing(t, block, b.serve, plan.dir, env)
		case b.notHere != "" && b.standIn == nil:
			t.Logf("%s:%d not run: %s", plan.file, block.line, b.notHere)
		default:
			if b.standIn != nil {
				t.Logf("%s:%d lines starting %q not run: %s", plan.file, block.line, b.skip, b.notHere)
				server.stop(t)
				server = nil
				b.standIn(t, env)
			}
			for _, s := range block.steps(b.skip) {
				sh.check(t, plan.file, s)
			}
		}
	}
}

// --- the READMEs' fenced blocks ---------------------------------------------------

// readmeFiles are the files whose fenced blocks are checked, relative to examples/.
func readmeFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"../README.md", "../SECURITY.md", "README.md"}
	more, err := filepath.Glob("*/README.md")
	if err != nil {
		t.Fatal(err)
	}
	return append(files, more...)
}

// fence is one fenced block of a Markdown file.
type fence struct {
	file string
	line int    // of the opening ```, from 1
	lang string // as written after the opening ```
	text string // the lines between the fences, each ending in \n
}

func (f fence) shell() bool {
	switch f.lang {
	case "sh", "bash", "shell", "console":
		return true
	}
	return false
}

func (f fence) firstLine() string {
	first, _, _ := strings.Cut(f.text, "\n")
	return first
}

func readFences(t *testing.T, file string) []fence {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []fence
	var cur *fence
	for i, line := range strings.Split(string(raw), "\n") {
		marker, isFence := strings.CutPrefix(strings.TrimSpace(line), "```")
		switch {
		case isFence && cur == nil:
			cur = &fence{file: file, line: i + 1, lang: strings.TrimSpace(marker)}
		case isFence:
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: a fenced block that never closes", file, cur.line)
	}
	return out
}

// step is one command of a block, with the output the README shows for it.
type step struct {
	line    int
	command string   // as written, continuation lines included
	want    []string // the lines of the "# {…}" comments that follow it
}

// steps splits a shell block into commands, leaving out those starting
// with skip (when not empty). A command is a line, with the lines that a
// trailing backslash continues it onto.
func (f fence) steps(skip string) []step {
	var out []step
	var cur []string
	start := 0
	skipping := false
	for i, line := range strings.Split(strings.TrimSuffix(f.text, "\n"), "\n") {
		n := f.line + 1 + i
		trimmed := strings.TrimSpace(line)
		if len(cur) == 0 {
			if want, ok := strings.CutPrefix(trimmed, "# "); ok && strings.HasPrefix(want, "{") {
				if len(out) > 0 && !skipping {
					out[len(out)-1].want = append(out[len(out)-1].want, want)
				}
				continue
			}
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
			start = n
			skipping = skip != "" && strings.HasPrefix(trimmed, skip)
		}
		cur = append(cur, line)
		if strings.HasSuffix(line, `\`) {
			continue
		}
		if !skipping {
			out = append(out, step{line: start, command: strings.Join(cur, "\n")})
		}
		cur = nil
	}
	return out
}

// matches reports whether printed is the output the README shows, "…"
// standing for any text.
func (s step) matches(printed string) bool {
	var parts []string
	for _, w := range s.want {
		parts = append(parts, strings.ReplaceAll(regexp.QuoteMeta(w), "…", ".*"))
	}
	re := regexp.MustCompile(`^(?s:` + strings.Join(parts, `\n`) + `)$`)
	return re.MatchString(strings.TrimRight(printed, "\n"))
}

// --- running them ------------------------------------------------------------

// readmeEnv is the environment of a README's commands: this one without
// the variables the READMEs, scripts and Caddyfiles read (a newcomer has
// none of them set), with Caddy's data and autosaved config, and temporary
// files (the legacy PHP code's token cache), in a temporary directory, and
// Go's settings file where it was.
func readmeEnv(t *testing.T) []string {
	t.Helper()
	goenv, err := exec.Command("go", "env", "GOENV").Output()
	if err != nil {
		t.Fatalf("go env GOENV: %v", err)
	}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if readByExamples(name) {
			continue
		}
		env = append(env, kv)
	}
	dir := t.TempDir()
	return append(env, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir, "TMPDIR="+dir, "GOENV="+strings.TrimSpace(string(goenv)))
}

func readByExamples(name string) bool {
	for _, prefix := range []string{"WX_", "WXAUTH_", "WXMOCK_", "WXAPI_", "REDIS_", "CADDY_", "INSTANCE_", "PHP_", "NODE_", "PYTHON_", "APP_", "H5_"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	switch name {
	case "LB_ADDR", "PORT", "HOST", "VERBOSE", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "TMPDIR", "GOENV", "LISTEN_HOST", "API_PORT", "API_WEIXIN_QQ_COM":
		return true
	}
	return false
}

// shell is one bash that runs a README's commands one at a time, as a
// user's terminal would: eval of the command's text, then a line with a
// marker and its exit status. Commands arrive on fd 3, NUL-terminated, so
// their stdin is /dev/null as a command of a script's would be.
type shell struct {
	p      *proctest.Process
	stdout *proctest.SyncBuffer
	steps  io.WriteCloser
	mark   string
	out    int // bytes of stdout already taken
	errs   int // bytes of stderr already shown
}

const shellLoop = `while IFS= read -r -d '' wxauth_step <&3; do eval "$wxauth_step"; printf '\n%s %d\n' "$WXAUTH_STEP_DONE" "$?"; done`

func startShell(t *testing.T, dir string, env []string) *shell {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	sh := &shell{stdout: &proctest.SyncBuffer{}, steps: w, mark: fmt.Sprintf("wxauth-step-done-%d", time.Now().UnixNano())}
	cmd := exec.Command("bash", "-c", shellLoop)
	cmd.Dir = dir
	cmd.Env = append(env, "WXAUTH_STEP_DONE="+sh.mark)
	cmd.ExtraFiles = []*os.File{r}
	cmd.Stdout = sh.stdout
	sh.p = startProcess(t, "the README's shell", cmd)
	r.Close()
	t.Cleanup(func() { w.Close() }) // before Stop: the loop ends at EOF
	return sh
}

// check runs s and fails t unless it exits 0 and prints what the README shows.
func (sh *shell) check(t *testing.T, file string, s step) {
	t.Helper()
	printed, status := sh.run(t, file, s)
	stderr := sh.p.Logs.String()
	stderr, sh.errs = stderr[sh.errs:], len(stderr)
	where := fmt.Sprintf("%s:%d", file, s.line)
	if status != 0 {
		t.Fatalf("%s: exit status %d from\n%s\nstdout:\n%s\nstderr:\n%s", where, status, s.command, printed, stderr)
	}
	if len(s.want) > 0 && !s.matches(printed) {
		t.Fatalf("%s:\n%s\nprinted\n%s\nbut the README shows\n%s\nstderr:\n%s", where, s.command, printed, strings.Join(s.want, "\n"), stderr)
	}
}

func (sh *shell) run(t *testing.T, file string, s step) (printed string, status int) {
	t.Helper()
	if _, err := io.WriteString(sh.steps, s.command+"\x00"); err != nil {
		t.Fatalf("%s:%d: the shell is gone (%v):\n%s", file, s.line, err, sh.p.Logs)
	}
	done := "\n" + sh.mark + " "
	deadline := time.Now().Add(readmeTimeout)
	for {
		all := sh.stdout.String()[sh.out:]
		if i := strings.Index(all, done); i >= 0 {
			if j := strings.IndexByte(all[i+len(done):], '\n'); j >= 0 {
				status, err := strconv.Atoi(all[i+len(done) : i+len(done)+j])
				if err != nil {
					t.Fatalf("%s:%d: the shell printed a bad status line: %q", file, s.line, all[i:])
				}
				sh.out += i + len(done) + j + 1
				return all[:i], status
			}
		}
		if st := sh.p.Wait(0); st != nil {
			t.Fatalf("%s:%d: the shell exited (%v) running\n%s\nstdout:\n%s\nstderr:\n%s", file, s.line, st, s.command, all, sh.p.Logs)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s:%d: not done after %v:\n%s\nstdout:\n%s\nstderr:\n%s", file, s.line, readmeTimeout, s.command, all, sh.p.Logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serving is a serve block running in the background.
type serving struct {
	where string
	s     *serve
	p     *proctest.Process
}

func startServing(t *testing.T, block fence, s *serve, dir string, env []string) *serving {
	t.Helper()
	where := fmt.Sprintf("%s:%d", block.file, block.line)
	for _, addr := range s.ports {
		if proctest.Listening(addr) {
			t.Fatalf("%s needs %s, where something listens already (a make demo of yours?)", where, addr)
		}
	}
	cmd := exec.Command("bash", "-c", block.text)
	cmd.Dir = dir
	cmd.Env = env
	p := startProcess(t, where, cmd)
	for _, r := range s.ready {
		if strings.HasPrefix(r, "http") {
			p.WaitOKWithin(t, r, readmeTimeout)
		} else {
			p.WaitListening(t, r, readmeTimeout)
		}
	}
	return &serving{where: where, s: s, p: p}
}

// stop stops sv as Ctrl-C in its terminal does, checks it ends quietly,
// then kills what is left of its process group and waits until its ports
// are free. A nil sv is nothing to stop.
func (sv *serving) stop(t *testing.T) {
	t.Helper()
	if sv == nil {
		return
	}
	sv.p.Interrupt()
	if sv.s.ctrlCStopsAll {
		// Wait also waits for everything holding its output open.
		if sv.p.Wait(20*time.Second) == nil {
			t.Errorf("%s, or something it started, still runs 20s after Ctrl-C", sv.where)
		}
		if strings.Contains(sv.p.Logs.String(), "make: ***") {
			t.Errorf("%s ended with an error from make after Ctrl-C:\n%s", sv.where, sv.p.Logs)
		}
		for _, addr := range sv.s.ports {
			if waitClosed(addr, 5*time.Second) != nil {
				t.Errorf("%s: something still listens on %s after Ctrl-C", sv.where, addr)
			}
		}
	} else {
		// What the README has the user stop by hand.
		proctest.Kill(sv.p.Cmd)
	}
	sv.p.Stop()
	for _, addr := range sv.s.ports {
		if err := waitClosed(addr, 10*time.Second); err != nil {
			t.Fatalf("%s: %v", sv.where, err)
		}
	}
}

// waitClosed waits up to timeout until nothing listens on addr.
func waitClosed(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for proctest.Listening(addr) {
		if time.Now().After(deadline) {
			return fmt.Errorf("something still listens on %s after %v", addr, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// startComposeWxmock starts, as a process, the wxmock a compose file runs,
// published on 127.0.0.1:9090, after checking that readme's ports (9090 and
// Caddy's 8080) are free; they are free again when t ends.
func startComposeWxmock(t *testing.T, readme string, env []string) {
	t.Helper()
	for _, addr := range []string{"127.0.0.1:9090", "127.0.0.1:8080"} {
		if proctest.Listening(addr) {
			t.Fatalf("%s needs %s, where something listens already", readme, addr)
		}
	}
	// Registered first, so it runs after the processes are stopped: the
	// next README wants these ports.
	t.Cleanup(func() {
		waitClosed("127.0.0.1:9090", 10*time.Second)
		waitClosed("127.0.0.1:8080", 10*time.Second)
	})
	mock := exec.Command(wxmockBin, "-listen", "127.0.0.1:9090")
	mock.Env = env
	startProcess(t, "wxmock (compose service wxmock)", mock).WaitOK(t, "http://127.0.0.1:9090/mock/stats")
}

// dockerStandIn starts, as processes, what compose.yaml runs in containers:
// Redis (the test's), wxmock published on 127.0.0.1:9090, the Node backend,
// and the Caddy built here with docker/Caddyfile on :8080.
func dockerStandIn(t *testing.T, env []string) {
	t.Helper()
	startComposeWxmock(t, "docker/README.md", env)

	app := fmt.Sprintf("127.0.0.1:%d", proctest.FreePort(t))
	_, port, _ := strings.Cut(app, ":")
	node := exec.Command("node", "../legacy-upstreams/node/server.js")
	node.Dir = "docker"
	node.Env = append(env, "PORT="+port)
	startProcess(t, "node (compose service app)", node).WaitListening(t, app, 15*time.Second)

	caddy := exec.Command(caddyBin, "run", "--config", "Caddyfile", "--adapter", "caddyfile")
	caddy.Dir = "docker"
	// compose.yaml's environment for the caddy service, with the other
	// services' addresses as they are here.
	caddy.Env = append(env, "WX_APPID=wx0123456789abcdef", "WX_SECRET=wxmock-demo-secret",
		"WX_API_BASE=http://127.0.0.1:9090", "APP_UPSTREAM="+app)
	p := startProcess(t, "caddy (compose service caddy)", caddy)
	p.WaitOK(t, "http://127.0.0.1:8080/health")
}

// cloudRunStandIn starts, as processes, what cloudrun-migration/compose.yaml
// runs in containers: Redis (the test's), wxmock published on
// 127.0.0.1:9090, node server.js, and the Caddy built here with that
// Caddyfile's API on :8080. In place of compose's extra_hosts (and Caddy's
// port 80), a Node preload sends the backend's connections to
// api.weixin.qq.com:80 to the wxapi site's port here; server.js is run as
// it is.
func cloudRunStandIn(t *testing.T, env []string) {
	t.Helper()
	startComposeWxmock(t, "cloudrun-migration/README.md", env)

	wxapiPort, appPort := proctest.FreePort(t), proctest.FreePort(t)
	node := exec.Command("node", "-r", "../testdata/api_weixin_qq_com.js", "server.js")
	node.Dir = "cloudrun-migration"
	node.Env = append(env, "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", appPort),
		fmt.Sprintf("API_WEIXIN_QQ_COM=127.0.0.1:%d", wxapiPort))
	startProcess(t, "node (compose service app)", node).WaitListening(t, fmt.Sprintf("127.0.0.1:%d", appPort), 15*time.Second)

	caddy := exec.Command(caddyBin, "run", "--config", "Caddyfile", "--adapter", "caddyfile")
	caddy.Dir = "cloudrun-migration"
	// compose.yaml's environment for the caddy service, with the other
	// services' addresses as they are here and Caddy on loopback (the
	// Caddyfile's default). Its own key prefix and admin port keep it from
	// anything else using the same Redis or port 2019.
	caddy.Env = append(env, "WX_APPID=wx0123456789abcdef", "WX_SECRET=wxmock-demo-secret",
		"WX_API_BASE=http://127.0.0.1:9090", fmt.Sprintf("WXAPI_PORT=%d", wxapiPort),
		fmt.Sprintf("APP_UPSTREAM=127.0.0.1:%d", appPort), "WXAUTH_KEY_PREFIX="+redistest.Prefix(t),
		fmt.Sprintf("CADDY_ADMIN=127.0.0.1:%d", proctest.FreePort(t)))
	startProcess(t, "caddy (compose service caddy)", caddy).WaitOK(t, "http://127.0.0.1:8080/wx/.well-known/jwks.json")
}
