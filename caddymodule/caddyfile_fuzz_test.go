package caddymodule

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// caddyfileSeeds use every subdirective, well and badly; ok says whether
// the parser accepts the body inside `wxauth { }`.
var caddyfileSeeds = []struct {
	body string
	ok   bool
}{
	{"app_id wx1\napp_secret s", true},
	{"app_id wx1234567890abcdef\napp_secret {env.WX_SECRET}\napi_base https://api.weixin.qq.com\n" +
		"login_path /wx/login\nphone_path /wx/phone\nprofile_path /wx/profile\nlogout_path /wx/logout\n" +
		"token_ttl 2h\nuser_ttl 720h\ncache_ttl 2s\nlogin_rate_limit 20 1m\nstore memory\nkey_prefix wxauth:\n" +
		"store_outage fail_open\nlog_openids\nsigning_key /etc/wxauth/key.pem\npublic /health /static/*\nrequire_phone /vip/*", true},
	{"app_id a\napp_secret {file./run/secrets/wx}\nstore redis redis://user:pass@127.0.0.1:6379/0\nkey_prefix p:", true},
	{"app_id a\napp_secret b\nkey_prefix p:\nstore redis rediss://r:6380", true},
	{"app_id a\napp_secret b\nstore redis", false},
	{"app_id a\napp_secret b\nstore memory redis://x", false},
	{"app_id a\napp_secret b\nstore_outage fail_closed\nstore_outage fail_open", false},
	{"app_id a\napp_secret b\ntoken_ttl 0s", false},
	{"app_id a\napp_secret b\ntoken_ttl -1h", false},
	{"app_id a\napp_secret b\nuser_ttl 1d", true},
	{"app_id a\napp_secret b\ncache_ttl 9999999999h", false},
	{"app_id a\napp_secret b\nlogin_rate_limit 0 1m", false},
	{"app_id a\napp_secret b\nlogin_rate_limit 99999999999999999999 1s", false},
	{"app_id a\napp_secret b\napi_base http://127.0.0.1:9090/", true},
	{"app_id a\napp_secret b\napi_base ftp://x", false},
	{"app_id a\napp_secret b\nlogin_path relative", false},
	{"app_id a\napp_secret b\npublic", false},
	{"app_id a\napp_secret b\npublic /a\npublic /b /c\nrequire_phone /d\nrequire_phone /e", true},
	{"app_id a\napp_secret b\nlog_openids yes", false},
	{"app_id a\napp_secret b\nsigning_key", false},
	{"app_id a\napp_secret b {\nnested x\n}", false},
	{"app_id \"\"\napp_secret b", false},
	{"app_id `a b`\napp_secret <<EOF\n\tmulti\n\tline\n\tEOF", true},
	{"app_id a\napp_secret b\nunknown x", false},
	{"}\n{", true}, // an empty block: the accounts of the global wxauth block
	{"{\n{\n}\n}", false},
	{"", true},
	{"apps shop game", true},
	{"apps", false},
	{"apps shop\napps game", false},
	{"apps shop\napp_id a\napp_secret b", false},
	{"apps shop\nstore memory", false},
	{"app_secret b", false},
}

func FuzzCaddyfile(f *testing.F) {
	for _, s := range caddyfileSeeds {
		f.Add("wxauth {\n" + s.body + "\n}")
	}
	f.Add("wxauth")
	f.Add("wxauth extra {\napp_id a\napp_secret b\n}")
	f.Add("wxauth {\napp_id a\napp_secret b\n}\nwxauth {\napp_id c\n}")
	f.Add("not_wxauth {\napp_id a\napp_secret b\n}")
	f.Fuzz(func(t *testing.T, input string) {
		for _, text := range []string{input, "wxauth {\n" + input + "\n}"} {
			checkCaddyfileAgreesWithValidate(t, text)
		}
	})
}

// checkCaddyfileAgreesWithValidate parses text as a wxauth directive: it
// must never panic, and a config it accepts must pass Validate and survive a
// JSON round trip unchanged, as `caddy adapt` and the admin API move it.
func checkCaddyfileAgreesWithValidate(t *testing.T, text string) {
	// NewTestDispenser log.Fatal's on input the lexer refuses; Caddy refuses
	// such a Caddyfile before any directive sees it, so skip it here.
	tokens, err := caddyfile.Tokenize([]byte(text), "Caddyfile")
	if err != nil {
		return
	}
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
		return
	}
	if err := h.Validate(); err != nil {
		t.Fatalf("the parser accepted what Validate refuses (%v):\n%s", err, text)
	}
	b, err := json.Marshal(&h)
	if err != nil {
		t.Fatalf("an accepted config does not marshal (%v):\n%s", err, text)
	}
	var back Handler
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("an accepted config's JSON does not unmarshal (%v): %s", err, b)
	}
	if err := back.Validate(); err != nil {
		t.Fatalf("an accepted config fails Validate after a JSON round trip (%v): %s", err, b)
	}
	again, err := json.Marshal(&back)
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("the JSON round trip changes the config:\n%s\n%s", b, again)
	}
	if !reflect.DeepEqual(normalized(h), normalized(back)) {
		t.Fatalf("the JSON round trip changes the config: %+v vs %+v", h, back)
	}
}

// normalized drops the difference JSON cannot carry: an empty path list and
// none at all.
func normalized(h Handler) Handler {
	if len(h.Public) == 0 {
		h.Public = nil
	}
	if len(h.RequirePhone) == 0 {
		h.RequirePhone = nil
	}
	return h
}

func TestEveryFuzzSeedIsAcceptedOrRefusedAsItSays(t *testing.T) {
	for _, seed := range caddyfileSeeds {
		t.Run(seed.body, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("wxauth {\n" + seed.body + "\n}"))
			if (err == nil) != seed.ok {
				t.Fatalf("error = %v, want accepted = %v", err, seed.ok)
			}
			checkCaddyfileAgreesWithValidate(t, "wxauth {\n"+seed.body+"\n}")
		})
	}
}
