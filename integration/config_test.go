package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCaddyCommand runs `caddy <args> --config <file>` on config and returns
// its output and whether it succeeded.
func runCaddyCommand(t *testing.T, config, name string, args ...string) (string, bool) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddyBin, append(args, "--config", path)...)
	cmd.Env = append(os.Environ(), "WX_SECRET="+testSecret, "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func TestCaddyAdaptAndValidateRefuseBadConfigsWithAReadableMessage(t *testing.T) {
	site := func(body string) string {
		return ":0 {\n\twxauth {\n" + body + "\n\t}\n\trespond ok\n}\n"
	}
	tests := []struct {
		name, config, file string
		args               []string
		want               string
	}{
		{"adapt: no app_id", site("app_secret x"), "Caddyfile", []string{"adapt", "--adapter", "caddyfile"}, "app_id is required"},
		{"adapt: an unknown subdirective", site("app_id wx1\napp_secret x\nsecret_key y"), "Caddyfile", []string{"adapt", "--adapter", "caddyfile"}, `unknown subdirective \"secret_key\"`},
		{"adapt: a bad api_base", site("app_id wx1\napp_secret x\napi_base nope"), "Caddyfile", []string{"adapt", "--adapter", "caddyfile"}, "api_base must be an http(s) URL"},
		{"adapt: a bad duration", site("app_id wx1\napp_secret x\ntoken_ttl forever"), "Caddyfile", []string{"adapt", "--adapter", "caddyfile"}, "bad duration"},
		{"validate: JSON without app_id", `{"apps":{"http":{"servers":{"s":{"listen":[":0"],"routes":[{"handle":[{"handler":"wxauth","app_secret":"x"}]}]}}}}}`,
			"caddy.json", []string{"validate"}, "app_id is required"},
		{"adapt: token_ttl 0", site("app_id wx1\napp_secret x\ntoken_ttl 0"), "Caddyfile", []string{"adapt", "--adapter", "caddyfile"}, "token_ttl must be positive"},
		{"adapt: a public path without /", site("app_id wx1\napp_secret x\npublic health"), "Caddyfile", []string{"adapt", "--adapter", "caddyfile"}, `public path \"health\" must start with /`},
		{"adapt: a require_phone path without /", site("app_id wx1\napp_secret x\nrequire_phone vip/*"), "Caddyfile", []string{"adapt", "--adapter", "caddyfile"}, `require_phone path \"vip/*\" must start with /`},
		{"validate: a Redis URL placeholder resolving to nothing", site("app_id wx1\napp_secret x\nstore redis {env.WXAUTH_TEST_UNSET}"), "Caddyfile", []string{"validate", "--adapter", "caddyfile"}, "the URL is empty ({env.WXAUTH_TEST_UNSET} resolved to nothing)"},
		{"validate: a secret placeholder resolving to nothing", site("app_id wx1\napp_secret {env.WXAUTH_TEST_UNSET}"), "Caddyfile", []string{"validate", "--adapter", "caddyfile"}, "app_secret of wx1 resolved to an empty string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := runCaddyCommand(t, tc.config, tc.file, tc.args...)
			if ok {
				t.Fatalf("caddy %s accepted the config:\n%s", tc.args[0], out)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("caddy %s output lacks %q:\n%s", tc.args[0], tc.want, out)
			}
		})
	}
}

func TestTheRootCaddyfileValidatesAndKeepsTheSecretOutOfTheAdaptedJSON(t *testing.T) {
	root, err := os.ReadFile("../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	if out, ok := runCaddyCommand(t, string(root), "Caddyfile", "validate", "--adapter", "caddyfile"); !ok {
		t.Fatalf("caddy validate ../Caddyfile:\n%s", out)
	}
	out, ok := runCaddyCommand(t, string(root), "Caddyfile", "adapt", "--adapter", "caddyfile")
	if !ok || strings.Contains(out, testSecret) || !strings.Contains(out, "{env.WX_SECRET}") {
		t.Fatalf("adapted JSON should hold the placeholder, not the secret:\n%s", out)
	}
}
