package examples

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Every Caddyfile of the repository and every Caddyfile snippet of its
// READMEs, checked with the Caddy built here.

// notCaddyfiles are files named like Caddyfiles that Caddy never reads as
// they are, with the reason.
var notCaddyfiles = map[string]string{
	"../bench/Caddyfile.tmpl": "a template: bench/run.sh replaces its @…@ placeholders, one of them a whole wxauth block, before Caddy reads it",
}

// repoCaddyfiles are the files named Caddyfile or Caddyfile.* in the
// repository, relative to examples/.
func repoCaddyfiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (d.Name() == "Caddyfile" || strings.HasPrefix(d.Name(), "Caddyfile.")) {
			if reason, ok := notCaddyfiles[path]; ok {
				t.Logf("%s not checked: %s", path, reason)
			} else {
				files = append(files, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 {
		t.Fatalf("found only %d Caddyfiles: %q", len(files), files)
	}
	return files
}

// caddyFmt returns what `caddy fmt -` makes of src.
func caddyFmt(t *testing.T, src []byte) []byte {
	t.Helper()
	cmd := exec.Command(caddyBin, "fmt", "-")
	cmd.Stdin = bytes.NewReader(src)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("caddy fmt -: %v\n%s", err, stderr.Bytes())
	}
	return out
}

// Caddy warns on every start that a Caddyfile "is not formatted".
func TestEveryCaddyfileInTheRepositoryIsCaddyFmtClean(t *testing.T) {
	t.Parallel()
	for _, file := range repoCaddyfiles(t) {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := caddyFmt(t, src); !bytes.Equal(got, src) {
			t.Errorf("%s is not as caddy fmt writes it; caddy fmt --overwrite %s gives:\n%s", file, strings.TrimPrefix(file, "../"), got)
		}
	}
}

// Readers copy them, and Caddy would warn about them too.
func TestEveryCaddyfileSnippetInTheReadmesIsCaddyFmtClean(t *testing.T) {
	t.Parallel()
	n := 0
	for _, file := range readmeFiles(t) {
		for _, f := range readFences(t, file) {
			if f.lang != "caddyfile" {
				continue
			}
			n++
			if got := caddyFmt(t, []byte(f.text)); !bytes.Equal(got, []byte(f.text)) {
				t.Errorf("%s:%d: the snippet is not as caddy fmt writes it, which is:\n%s", file, f.line, got)
			}
		}
	}
	if n == 0 {
		t.Fatal("no caddyfile blocks found in the READMEs")
	}
}

// localCaddyfiles are the Caddyfiles meant for this machine only, and the
// cloudrun-migration one, which listens on loopback unless its compose.yaml
// says otherwise (LISTEN_HOST). The docker example's listens on every
// interface of its container, which publishing a port needs; compose.yaml
// publishes it on the host's loopback.
var localCaddyfiles = []string{
	"../Caddyfile",
	"legacy-upstreams/Caddyfile",
	"cluster/Caddyfile.a",
	"cluster/Caddyfile.b",
	"cluster/Caddyfile.lb",
	"cloudrun-migration/Caddyfile",
	"h5/Caddyfile",
}

// adapted is the part of `caddy adapt` output these tests read.
type adapted struct {
	Apps struct {
		HTTP struct {
			Servers map[string]struct {
				Listen               []string `json:"listen"`
				TrustedProxies       any      `json:"trusted_proxies"`
				TrustedProxiesStrict int      `json:"trusted_proxies_strict"`
			} `json:"servers"`
		} `json:"http"`
	} `json:"apps"`
}

func adapt(t *testing.T, file string) adapted {
	t.Helper()
	cmd := exec.Command(caddyBin, "adapt", "--config", file, "--adapter", "caddyfile")
	cmd.Env = caddyEnv(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("caddy adapt --config %s: %v", file, err)
	}
	var a adapted
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("caddy adapt --config %s: %v", file, err)
	}
	if len(a.Apps.HTTP.Servers) == 0 {
		t.Fatalf("caddy adapt --config %s: no HTTP servers in\n%s", file, out)
	}
	return a
}

// A site address such as http://127.0.0.1:8080 only matches the Host
// header: without bind (or default_bind) Caddy listens on every interface,
// and the demo upstreams believe any X-OpenID.
func TestEveryCaddyfileMeantForThisMachineListensOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	for _, file := range localCaddyfiles {
		for name, srv := range adapt(t, file).Apps.HTTP.Servers {
			for _, l := range srv.Listen {
				host, _, err := net.SplitHostPort(l)
				if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
					t.Errorf("%s: server %s listens on %q, not on loopback only: add default_bind 127.0.0.1", file, name, l)
				}
			}
		}
	}
}

// Without trusted_proxies_strict Caddy takes the client IP from the
// leftmost X-Forwarded-For entry, which the client writes: login_rate_limit
// could be dodged, or spent on a victim's IP.
func TestEveryExampleThatTrustsProxiesReadsTheClientIPStrictly(t *testing.T) {
	t.Parallel()
	n := 0
	for _, file := range repoCaddyfiles(t) {
		for name, srv := range adapt(t, file).Apps.HTTP.Servers {
			if srv.TrustedProxies == nil {
				continue
			}
			n++
			if srv.TrustedProxiesStrict != 1 {
				t.Errorf("%s: server %s sets trusted_proxies without trusted_proxies_strict", file, name)
			}
		}
	}
	if n == 0 {
		t.Fatal("no Caddyfile sets trusted_proxies: the cluster example should")
	}
}
