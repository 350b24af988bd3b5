package token

import (
	"context"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/wxauth/caddy-wxauth/internal/fakeclock"
	"github.com/wxauth/caddy-wxauth/internal/faultstore"
)

func TestNewRejectsIncompleteConfig(t *testing.T) {
	clock := fakeclock.New(t0)
	pemData := pemPKCS8(t, newEd25519(t))
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"a missing AppID is refused", func(c *Config) { c.AppID = "" }, "AppID is required"},
		{"a zero TTL is refused", func(c *Config) { c.TTL = 0 }, "TTL must be positive"},
		{"a negative TTL is refused", func(c *Config) { c.TTL = -time.Second }, "TTL must be positive"},
		{"a negative leeway is refused", func(c *Config) { c.Leeway = -time.Second }, "must not be negative"},
		{"a negative rotation period is refused", func(c *Config) { c.RotateEvery = -time.Hour }, "must not be negative"},
		{"neither a key nor a store is refused", func(c *Config) { c.SigningKeyPEM = nil }, "SigningKeyPEM or Store is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := pemConfig(pemData, clock)
			tt.mutate(&cfg)
			m, err := New(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, %v; want error containing %q", m, err, tt.want)
			}
		})
	}
}

func TestNewFillsDefaults(t *testing.T) {
	m := mustNew(t, Config{AppID: testApp, TTL: time.Hour, SigningKeyPEM: pemPKCS8(t, newEd25519(t))})
	if m.cfg.Leeway != 30*time.Second || m.cfg.Now == nil {
		t.Fatalf("defaults: Leeway %s, Now set %v", m.cfg.Leeway, m.cfg.Now != nil)
	}
	// The default clock is the real one: a token issued now verifies now.
	raw, _ := mustIssue(t, m, "o-user")
	if _, err := m.Verify(context.Background(), raw); err != nil {
		t.Fatalf("Verify with the default clock: %v", err)
	}
}

func TestIssueRefusesAnEmptyOpenID(t *testing.T) {
	m := mustNew(t, pemConfig(pemPKCS8(t, newEd25519(t)), fakeclock.New(t0)))
	if raw, _, err := m.Issue(context.Background(), ""); err == nil {
		t.Fatalf("Issue(\"\") = %q, nil; want an error", raw)
	}
}

func TestIssuedTokenRoundTrips(t *testing.T) {
	clock := fakeclock.New(t0.Add(500 * time.Millisecond)) // a fractional second must not leak into claims
	key := newEd25519(t)
	m := mustNew(t, pemConfig(pemPKCS8(t, key), clock))
	ctx := context.Background()

	raw, issued := mustIssue(t, m, "o-user")
	got, err := m.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !sameClaims(got, issued) {
		t.Errorf("Verify claims = %+v, Issue claims = %+v", got, issued)
	}
	if !issued.IssuedAt.Equal(t0) || !issued.ExpiresAt.Equal(t0.Add(2*time.Hour)) || issued.OpenID != "o-user" {
		t.Errorf("claims = %+v; want iat %s, exp iat+2h, sub o-user", issued, t0)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{22,}$`).MatchString(issued.ID) {
		t.Errorf("jti %q is not >= 128 bits of base64url", issued.ID)
	}

	h, p, _ := segments(t, raw)
	header := decodeSegment(t, h)
	if header["alg"] != "EdDSA" || header["typ"] != "JWT" || header["kid"] != m.keys.(*staticKeys).list[0].kid {
		t.Errorf("header = %v; want alg EdDSA, typ JWT, the key's kid", header)
	}
	payload := decodeSegment(t, p)
	wantClaims := []string{"aud", "exp", "iat", "iss", "jti", "nbf", "sub"}
	gotClaims := make([]string, 0, len(payload))
	for k := range payload {
		gotClaims = append(gotClaims, k)
	}
	slices.Sort(gotClaims)
	if !slices.Equal(gotClaims, wantClaims) {
		t.Errorf("claims present = %v; want exactly %v", gotClaims, wantClaims)
	}
	if payload["iss"] != Issuer || payload["aud"] != testApp || payload["nbf"] != payload["iat"] {
		t.Errorf("payload = %v; want iss %q, aud %q, nbf = iat", payload, Issuer, testApp)
	}

	raw2, issued2 := mustIssue(t, m, "o-user")
	if raw2 == raw || issued2.ID == issued.ID {
		t.Errorf("two tokens share jti %q", issued.ID)
	}
}

func TestIssueRoundsASubSecondTTLUp(t *testing.T) {
	cfg := pemConfig(pemPKCS8(t, newEd25519(t)), fakeclock.New(t0))
	cfg.TTL = 1500 * time.Millisecond
	m := mustNew(t, cfg)
	_, c := mustIssue(t, m, "o-user")
	if want := t0.Add(2 * time.Second); !c.ExpiresAt.Equal(want) {
		t.Fatalf("exp = %s; want %s", c.ExpiresAt, want)
	}
}

// TestVerifyRefusesForgedAndMalformedTokens is the attack table: each case
// builds one bad token against a static Ed25519 Manager; all must fail with
// ErrInvalid.
func TestVerifyRefusesForgedAndMalformedTokens(t *testing.T) {
	clock := fakeclock.New(t0)
	key := newEd25519(t)
	pub := key.Public().(ed25519.PublicKey)
	m := mustNew(t, pemConfig(pemPKCS8(t, key), clock))
	kid := m.keys.(*staticKeys).list[0].kid
	valid, _ := mustIssue(t, m, "o-user")
	h, p, s := segments(t, valid)
	now := clock.Now()
	leeway := m.cfg.Leeway

	with := func(changes map[string]any, drop ...string) map[string]any {
		c := validClaims(now)
		for k, v := range changes {
			c[k] = v
		}
		for _, k := range drop {
			delete(c, k)
		}
		return c
	}
	pkixPEM := func() []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}

	// The control: crafting with the real key and good claims is accepted, so
	// each refusal below is for the one thing its case changes.
	if _, err := m.Verify(context.Background(), craft(t, with(nil), jwa.EdDSA, key, kid)); err != nil {
		t.Fatalf("a crafted token with good claims and the real key was refused: %v", err)
	}

	tests := []struct {
		name   string
		reason string // what the error says, so that each case fails for its own reason
		raw    func() string
	}{
		{"alg none with no signature is refused", `empty segment`, func() string {
			return b64json(t, map[string]any{"alg": "none", "typ": "JWT", "kid": kid}) + "." + p + "."
		}},
		{"alg none keeping the original signature is refused", `alg "none", but key`, func() string {
			return b64json(t, map[string]any{"alg": "none", "kid": kid}) + "." + p + "." + s
		}},
		{"HS256 with the public key bytes as secret is refused", `alg "HS256", but key`, func() string {
			return craft(t, with(nil), jwa.HS256, publicBytes(t, pub), kid)
		}},
		{"HS256 with the public key PEM as secret is refused", `alg "HS256", but key`, func() string {
			return craft(t, with(nil), jwa.HS256, pkixPEM(), kid)
		}},
		{"an ES256 header on the Ed25519 key is refused", `alg "ES256", but key`, func() string {
			return craft(t, with(nil), jwa.ES256, newECDSA(t, elliptic.P256()), kid)
		}},
		{"a changed payload under the old signature is refused", `could not verify`, func() string {
			return h + "." + b64json(t, with(map[string]any{"sub": "o-victim"})) + "." + s
		}},
		{"a signature by another key under the same kid is refused", `could not verify`, func() string {
			return craft(t, with(nil), jwa.EdDSA, newEd25519(t), kid)
		}},
		{"an unknown kid is refused", `unknown key`, func() string {
			return craft(t, with(nil), jwa.EdDSA, key, "not-a-kid")
		}},
		{"a missing kid is refused", `no kid`, func() string {
			return craft(t, with(nil), jwa.EdDSA, key, "")
		}},
		{"a token for another app_id is refused", `aud must name exactly this app, got ["wxotherapp"]`, func() string {
			cfg := pemConfig(pemPKCS8(t, key), clock)
			cfg.AppID = "wxotherapp"
			raw, _ := mustIssue(t, mustNew(t, cfg), "o-user")
			return raw
		}},
		{"an audience list naming this app among others is refused", `aud must name exactly this app, got ["wxtestapp" "wxotherapp"]`, func() string {
			return craft(t, with(map[string]any{"aud": []string{testApp, "wxotherapp"}}), jwa.EdDSA, key, kid)
		}},
		{"a missing audience is refused", `no aud`, func() string { return craft(t, with(nil, "aud"), jwa.EdDSA, key, kid) }},
		{"an audience that is not a string is refused", `aud is neither`, func() string {
			return craft(t, with(map[string]any{"aud": 42}), jwa.EdDSA, key, kid)
		}},
		{"a fractional exp is refused", `claims:`, func() string {
			return craft(t, with(map[string]any{"exp": float64(now.Add(time.Hour).Unix()) + 0.5}), jwa.EdDSA, key, kid)
		}},
		{"another issuer is refused", `iss "someone-else" is not "caddy-wxauth"`, func() string {
			return craft(t, with(map[string]any{"iss": "someone-else"}), jwa.EdDSA, key, kid)
		}},
		{"an expired token is refused", `expired at`, func() string {
			return craft(t, with(map[string]any{"iat": now.Add(-3 * time.Hour), "nbf": now.Add(-3 * time.Hour), "exp": now.Add(-leeway - time.Second)}), jwa.EdDSA, key, kid)
		}},
		{"a token at its exp is refused, whatever the leeway", `expired at`, func() string {
			return craft(t, with(map[string]any{"iat": now.Add(-time.Hour), "nbf": now.Add(-time.Hour), "exp": now}), jwa.EdDSA, key, kid)
		}},
		{"an exp of 0 (never expiring) is refused", `after 1970`, func() string {
			return craft(t, with(map[string]any{"exp": time.Unix(0, 0)}), jwa.EdDSA, key, kid)
		}},
		{"a missing exp is refused", `iat, nbf and exp are required`, func() string { return craft(t, with(nil, "exp"), jwa.EdDSA, key, kid) }},
		{"nbf in the future beyond the leeway is refused", `nbf is in the future`, func() string {
			return craft(t, with(map[string]any{"nbf": now.Add(leeway + 2*time.Second)}), jwa.EdDSA, key, kid)
		}},
		{"iat in the future beyond the leeway is refused", `iat is in the future`, func() string {
			return craft(t, with(map[string]any{"iat": now.Add(leeway + 2*time.Second)}), jwa.EdDSA, key, kid)
		}},
		{"a missing sub is refused", `no sub`, func() string { return craft(t, with(nil, "sub"), jwa.EdDSA, key, kid) }},
		{"an empty sub is refused", `no sub`, func() string { return craft(t, with(map[string]any{"sub": ""}), jwa.EdDSA, key, kid) }},
		{"a missing jti is refused", `no jti`, func() string { return craft(t, with(nil, "jti"), jwa.EdDSA, key, kid) }},
		{"a missing iat is refused", `iat, nbf and exp are required`, func() string { return craft(t, with(nil, "iat"), jwa.EdDSA, key, kid) }},
		{"a missing nbf is refused", `iat, nbf and exp are required`, func() string { return craft(t, with(nil, "nbf"), jwa.EdDSA, key, kid) }},
		{"a token cut short by one byte is refused", `is not base64`, func() string { return valid[:len(valid)-1] }},
		{"a token cut in half is refused", `is not base64`, func() string { return valid[:len(valid)/2] }},
		{"a token without its signature is refused", `2 segments, want 3`, func() string { return h + "." + p }},
		{"a token with an empty signature is refused", `empty segment`, func() string { return h + "." + p + "." }},
		{"a token with a fourth segment is refused", `4 segments, want 3`, func() string { return valid + "." + s }},
		{"the JSON serialization of a valid token is refused", `is not base64url`, func() string {
			return `{"protected":"` + h + `","payload":"` + p + `","signature":"` + s + `"}`
		}},
		{"an empty string is refused", `empty segment`, func() string { return "" }},
		{"garbage is refused", `is not base64url`, func() string { return "not a token at all" }},
		{"two dots alone are refused", `empty segment`, func() string { return ".." }},
		{"a header that is not JSON is refused", `failed to parse jws`, func() string {
			return base64.RawURLEncoding.EncodeToString([]byte("{{{")) + "." + p + "." + s
		}},
		{"an over-size string is refused", `longer than`, func() string { return strings.Repeat("a", MaxSize+1) }},
		{"an over-size token signed with the real key is refused", `longer than`, func() string {
			return craft(t, with(map[string]any{"sub": strings.Repeat("o", MaxSize)}), jwa.EdDSA, key, kid)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.raw()
			c, err := m.Verify(context.Background(), raw)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify(%.80q) = %+v, %v; want ErrInvalid", raw, c, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Verify error %q does not say %q", err, tt.reason)
			}
			if c != (Claims{}) {
				t.Errorf("Verify returned claims %+v with its error", c)
			}
		})
	}
}

// TestVerifyPinsTheES256Algorithm repeats the algorithm attacks against a
// P-256 key.
func TestVerifyPinsTheES256Algorithm(t *testing.T) {
	clock := fakeclock.New(t0)
	key := newECDSA(t, elliptic.P256())
	m := mustNew(t, pemConfig(pemPKCS8(t, key), clock))
	kid := m.keys.(*staticKeys).list[0].kid
	valid, _ := mustIssue(t, m, "o-user")
	_, p, _ := segments(t, valid)
	if got := decodeSegment(t, strings.Split(valid, ".")[0])["alg"]; got != "ES256" {
		t.Fatalf("header alg = %v; want ES256", got)
	}
	if _, err := m.Verify(context.Background(), valid); err != nil {
		t.Fatalf("a valid ES256 token was refused: %v", err)
	}
	tests := []struct {
		name string
		raw  string
	}{
		{"alg none is refused", b64json(t, map[string]any{"alg": "none", "kid": kid}) + "." + p + "."},
		{"HS256 with the public point as secret is refused", craft(t, validClaims(clock.Now()), jwa.HS256, publicBytes(t, key.Public()), kid)},
		{"an EdDSA header on the P-256 key is refused", craft(t, validClaims(clock.Now()), jwa.EdDSA, newEd25519(t), kid)},
		{"ES384 by another key under the same kid is refused", craft(t, validClaims(clock.Now()), jwa.ES384, newECDSA(t, elliptic.P384()), kid)},
		{"ES256 by another P-256 key under the same kid is refused", craft(t, validClaims(clock.Now()), jwa.ES256, newECDSA(t, elliptic.P256()), kid)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := m.Verify(context.Background(), tt.raw); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify = %v; want ErrInvalid", err)
			}
		})
	}
}

// TestVerifyHonoursExpExactly: the leeway is for nbf and iat from a clock
// ahead; a token is refused from its exp on.
func TestVerifyHonoursExpExactly(t *testing.T) {
	clock := fakeclock.New(t0)
	m := mustNew(t, pemConfig(pemPKCS8(t, newEd25519(t)), clock))
	raw, c := mustIssue(t, m, "o-user")
	tests := []struct {
		name  string
		at    time.Time
		valid bool
	}{
		{"a token is valid just before exp", c.ExpiresAt.Add(-time.Second), true},
		{"a token is valid a nanosecond before exp", c.ExpiresAt.Add(-time.Nanosecond), true},
		{"a token is refused at exp", c.ExpiresAt, false},
		{"a token is refused within what used to be the leeway after exp", c.ExpiresAt.Add(m.cfg.Leeway - time.Second), false},
		{"a token is refused long after exp", c.ExpiresAt.Add(24 * time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Advance(tt.at.Sub(clock.Now()))
			_, err := m.Verify(context.Background(), raw)
			if tt.valid && err != nil {
				t.Fatalf("Verify at %s: %v", tt.at, err)
			}
			if !tt.valid && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify at %s = %v; want ErrInvalid", tt.at, err)
			}
		})
	}
}

func TestVerifyAcceptsAClockAheadWithinTheLeeway(t *testing.T) {
	clock := fakeclock.New(t0)
	key := newEd25519(t)
	m := mustNew(t, pemConfig(pemPKCS8(t, key), clock))
	ahead := pemConfig(pemPKCS8(t, key), fakeclock.New(t0.Add(20*time.Second)))
	raw, _ := mustIssue(t, mustNew(t, ahead), "o-user")
	if _, err := m.Verify(context.Background(), raw); err != nil {
		t.Fatalf("a token from a clock 20s ahead was refused with a 30s leeway: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	// A fixed key and clock, so that seeds and stored crashers mean the same
	// thing on every run.
	key := ed25519.NewKeyFromSeed([]byte("caddy-wxauth fuzz seed 32 bytes!"))
	clock := fakeclock.New(t0)
	m := mustNew(f, pemConfig(pemPKCS8(f, key), clock))
	kid := m.keys.(*staticKeys).list[0].kid
	// Built rather than issued, so that the genuine token (Ed25519 signatures
	// are deterministic) is the same in every fuzz worker process.
	valid := craft(f, validClaims(t0), jwa.EdDSA, key, kid)
	want, err := m.Verify(context.Background(), valid)
	if err != nil {
		f.Fatalf("the seed token does not verify: %v", err)
	}
	h, p, s := segments(f, valid)

	f.Add(valid)
	f.Add(b64json(f, map[string]any{"alg": "none", "kid": kid}) + "." + p + ".")
	f.Add(craft(f, validClaims(t0), jwa.HS256, publicBytes(f, key.Public()), kid))
	f.Add(valid[:len(valid)-1])
	f.Add(valid[:len(valid)/2])
	f.Add(h + "." + p)
	f.Add(h + ".." + s)
	f.Add("")
	f.Add("..")
	f.Add(`{"protected":"` + h + `","payload":"` + p + `","signature":"` + s + `"}`)

	f.Fuzz(func(t *testing.T, raw string) {
		c, err := m.Verify(context.Background(), raw)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify error %v does not wrap ErrInvalid", err)
			}
			return
		}
		// Only a genuine token verifies, and the only one signed is valid.
		if !sameClaims(c, want) {
			t.Fatalf("Verify accepted %q with claims %+v; only %+v was issued", raw, c, want)
		}
	})
}

func BenchmarkIssue(b *testing.B) {
	for _, bc := range benchKeys(b) {
		b.Run(bc.name, func(b *testing.B) {
			m := mustNew(b, Config{AppID: testApp, TTL: 2 * time.Hour, SigningKeyPEM: bc.pem})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := m.Issue(ctx, "o-bench-user-0123456789"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, bc := range benchKeys(b) {
		b.Run(bc.name, func(b *testing.B) {
			m := mustNew(b, Config{AppID: testApp, TTL: 2 * time.Hour, SigningKeyPEM: bc.pem})
			ctx := context.Background()
			raw, _ := mustIssue(b, m, "o-bench-user-0123456789")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Verify(ctx, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyGenerated is BenchmarkVerify with a generated key already
// known: the hot path, which must not touch the store.
func BenchmarkVerifyGenerated(b *testing.B) {
	store := faultstore.Memory(nil)
	m := mustNew(b, Config{AppID: testApp, TTL: 2 * time.Hour, Store: store})
	ctx := context.Background()
	raw, _ := mustIssue(b, m, "o-bench-user-0123456789")
	calls := store.Calls()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
	if n := store.Calls() - calls; n != 0 {
		b.Fatalf("verifying a known key called the store %d times", n)
	}
}

func benchKeys(b *testing.B) []struct {
	name string
	pem  []byte
} {
	return []struct {
		name string
		pem  []byte
	}{
		{"Ed25519", pemPKCS8(b, newEd25519(b))},
		{"ES256", pemPKCS8(b, newECDSA(b, elliptic.P256()))},
	}
}
