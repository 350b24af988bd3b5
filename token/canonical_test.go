package token

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/session"
)

func TestOnlyTheSpellingIssueWritesIsCanonical(t *testing.T) {
	// "eyJh" decodes to `{"a`; "e30" to `{}` (3 chars: 2 unused bits, zero).
	for _, tc := range []struct {
		name string
		raw  string
		ok   bool
	}{
		{"three canonical segments", "eyJh.e30.AAAA", true},
		{"two unused bits set in a three-character group", "eyJh.e31.AAAA", false},
		{"four unused bits set in a two-character group", "eyJh.AB.AAAA", false},
		{"two-character group with zero unused bits", "eyJh.AQ.AAAA", true},
		{"= padding", "eyJh.e30=.AAAA", false},
		{"standard alphabet +", "eyJh.e30.AA+A", false},
		{"standard alphabet /", "eyJh.e30.AA/A", false},
		{"whitespace", "eyJh.e30.AA A", false},
		{"a single leftover character", "eyJh.e30.AAAAA", false},
		{"two segments", "eyJh.e30", false},
		{"four segments", "eyJh.e30.AAAA.AAAA", false},
		{"an empty segment", "eyJh..AAAA", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkCanonical(tc.raw)
			if tc.ok && err != nil {
				t.Fatalf("checkCanonical(%q) = %v, want nil", tc.raw, err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("checkCanonical(%q) = %v, want ErrInvalid", tc.raw, err)
			}
		})
	}
}

func TestAudienceReadsTheAppATokenClaimsWithoutTrustingIt(t *testing.T) {
	m := mustNew(t, Config{AppID: "wxaudience", TTL: time.Hour, Store: session.NewMemory()})
	raw, _ := mustIssue(t, m, "o-user")
	for _, tc := range []struct{ name, raw, want string }{
		{"an issued token", raw, "wxaudience"},
		{"garbage", "not a token", ""},
		{"a payload that is not base64", "a.b@d.c", ""},
		{"a payload that is not JSON", "a.bm90IGpzb24.c", ""},
		{"an audience list", "a." + b64json(t, map[string]any{"aud": []string{"x", "y"}}) + ".c", ""},
		{"a list of one", "a." + b64json(t, map[string]any{"aud": []string{"wxone"}}) + ".c", "wxone"},
		{"an escaped audience", "a." + base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"wx\u0041"}`)) + ".c", "wxA"},
		{"two audiences", "a." + base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"wxA","aud":"wxB"}`)) + ".c", "wxB"}, // as encoding/json reads it
	} {
		if got := Audience(tc.raw); got != tc.want {
			t.Errorf("%s: Audience = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// FuzzAudience: the scan that routes tokens without encoding/json never
// disagrees with encoding/json about an audience the latter finds.
func FuzzAudience(f *testing.F) {
	for _, seed := range []string{`{"aud":"wxA"}`, `{"aud":["wxA"]}`, `{"aud":"wx\u0041"}`, `{"aud":"wxA","aud":"wxB"}`,
		`{"sub":"\"aud\":\"wxB\"","aud":"wxA"}`, `{ "aud" : "wxA" }`, `{"x":{"aud":"wxB"}}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var c struct {
			Audience audience `json:"aud"`
		}
		if json.Unmarshal(payload, &c) != nil || len(c.Audience) != 1 {
			return
		}
		if got := Audience("a." + base64.RawURLEncoding.EncodeToString(payload) + ".c"); got != c.Audience[0] {
			t.Fatalf("Audience of %q = %q, encoding/json reads %q", payload, got, c.Audience[0])
		}
	})
}
