package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func TestEveryBadCaddyfileFailsWithAMessageNamingTheMistake(t *testing.T) {
	const ok = "app_id wx1\n app_secret s\n"
	tests := []struct {
		name, body, want string
	}{
		{"no app_id", "app_secret s", "app_id is required"},
		{"no app_secret", "app_id wx1", "app_secret is required"},
		{"an unknown subdirective", ok + "app_key x", `unknown subdirective "app_key"`},
		{"a repeated subdirective", ok + "app_id wx2", "app_id given twice"},
		{"app_id without a value", "app_id\n app_secret s", "wrong argument count"},
		{"app_id with two values", "app_id a b\n app_secret s", "wrong argument count"},
		{"an api_base that is no URL", ok + "api_base not-a-url", "api_base must be an http(s) URL"},
		{"an api_base with another scheme", ok + "api_base ftp://x", "api_base must be an http(s) URL"},
		{"a bad token_ttl", ok + "token_ttl soon", "bad duration"},
		{"a negative token_ttl", ok + "token_ttl -1h", "must be positive"},
		{"a zero cache_ttl", ok + "cache_ttl 0s", "must be positive"},
		{"a login_path without slash", ok + "login_path wx/login", "login_path must start with /"},
		{"a rate limit without window", ok + "login_rate_limit 20", "wrong argument count"},
		{"a rate limit with a bad count", ok + "login_rate_limit many 1m", "bad count"},
		{"a rate limit with a bad window", ok + "login_rate_limit 20 often", "bad window"},
		{"an unknown store", ok + "store etcd", `unknown store "etcd"`},
		{"redis without a URL", ok + "store redis", "wrong argument count"},
		{"memory with a URL", ok + "store memory redis://x", "wrong argument count"},
		{"two endpoints on one path", ok + "login_path /wx/x\nlogout_path /wx/x", `logout_path "/wx/x" is already login_path's path`},
		{"an endpoint on the JWKS path", ok + "phone_path /wx/.well-known/jwks.json", "is already the JWKS's path"},
		{"an unknown store_outage", ok + "store_outage maybe", "store_outage must be fail_closed or fail_open"},
		{"public without paths", ok + "public", "wrong argument count"},
		{"a zero token_ttl", ok + "token_ttl 0", "token_ttl must be positive"},
		{"a public path without a leading /", ok + "public health", `public path "health" must start with /`},
		{"a require_phone path without a leading /", ok + "require_phone vip/*", `require_phone path "vip/*" must start with /`},
		{"a website's scope for an official account", ok + "oauth_scope snsapi_login", "oauth_scope must be snsapi_base or snsapi_userinfo"},
		{"an oauth_redirect_url that is a path", ok + "oauth_redirect_url /wx/oauth/callback", "oauth_redirect_url must be an absolute http(s) URL"},
		{"a cookie_name a cookie cannot have", ok + "cookie_name wx;auth", `cookie_name "wx;auth" is not a valid cookie name`},
		{"login_redirect with an argument", ok + "login_redirect /login", "wrong argument count"},
		{"oauth_path on the login path", ok + "login_path /wx/in\noauth_path /wx/in", `oauth_path "/wx/in" is already login_path's path`},
		{"an oauth_callback_path without slash", ok + "oauth_callback_path cb", "oauth_callback_path must start with /"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser("wxauth {\n" + tc.body + "\n}")
			var h Handler
			err := h.UnmarshalCaddyfile(d)
			if err == nil {
				t.Fatalf("no error for:\n%s", tc.body)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestPublicAndRequirePhoneTakeCaddysStarPatterns(t *testing.T) {
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("wxauth {\napp_id a\napp_secret b\npublic * *.js /static/*\nrequire_phone */vip/*\n}"))
	if err != nil {
		t.Fatal(err)
	}
}

func TestArgumentsOnTheDirectiveLineAreRefused(t *testing.T) {
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("wxauth extra {\napp_id a\napp_secret b\n}")); err == nil {
		t.Fatal("want an error for an argument after wxauth")
	}
}

func TestCacheTTLOffReadsTheStoreOnEveryRequest(t *testing.T) {
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("wxauth {\napp_id a\napp_secret b\ncache_ttl off\n}")); err != nil {
		t.Fatal(err)
	}
	if h.CacheTTL >= 0 {
		t.Fatalf("cache_ttl off = %v, want negative", h.CacheTTL)
	}
}

func TestPublicAndRequirePhoneAccumulateAcrossLines(t *testing.T) {
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`wxauth {
		app_id a
		app_secret b
		public /health
		public /static/* /favicon.ico
		require_phone /vip/*
		require_phone /orders/*
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.Public, " "); got != "/health /static/* /favicon.ico" {
		t.Fatalf("public = %q", got)
	}
	if got := strings.Join(h.RequirePhone, " "); got != "/vip/* /orders/*" {
		t.Fatalf("require_phone = %q", got)
	}
}

// TestCaddyfilesAdaptToTheirGoldenJSON checks testdata/caddyfile_adapt: each
// file is a Caddyfile, a line of dashes, and the JSON it must adapt to. The
// directive needs no global order line, and secrets stay placeholders.
func TestCaddyfilesAdaptToTheirGoldenJSON(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			caddyfileText, want, ok := strings.Cut(string(data), "----------")
			if !ok {
				t.Fatal("no ---------- separator")
			}
			if !caddytest.CompareAdapt(t, f, caddyfileText, "caddyfile", strings.TrimSpace(want)) {
				t.Fatal("adapted JSON differs from the golden file (diff printed above)")
			}
		})
	}
}

func TestEveryBadWxapiBlockFailsWithAMessageNamingTheMistake(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"no account", "allow /wxa/*", "name the account"},
		{"app and the inline form", "app shop\napp_id wx1\napp_secret s", "use either app"},
		{"an inline form without a secret", "app_id wx1", "app_secret is required"},
		{"a bad CIDR", "app shop\nallow_from 10.0.0.0/33", `allow_from "10.0.0.0/33" is not a CIDR`},
		{"a relative allow path", "app shop\nallow wxa/*", `allow path "wxa/*" must start with /`},
		{"a bad max_body", "app shop\nmax_body lots", `max_body: bad size "lots"`},
		{"max_body given twice", "app shop\nmax_body 1MiB\nmax_body 2MiB", "max_body given twice"},
		{"an unknown subdirective", "app shop\nupstream x", `unknown subdirective "upstream"`},
		{"apps without names", "app shop\napps", "wrong argument count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h WxAPI
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("wxapi {\n" + tc.body + "\n}"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v does not say %q", err, tc.want)
			}
		})
	}
}
