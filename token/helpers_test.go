package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/wxauth/caddy-wxauth/internal/fakeclock"
	"github.com/wxauth/caddy-wxauth/internal/faultstore"
)

const testApp = "wxtestapp"

// t0 is the tests' starting time: 50 minutes into an hour, so that with
// RotateEvery = 1h an epoch boundary is 10 minutes away.
var t0 = time.Date(2025, 3, 1, 9, 50, 0, 0, time.UTC)

// newStore is a memory store on clock, wrapped to count calls, fail on demand
// and lose its data.
func newStore(clock *fakeclock.Clock) *faultstore.Store { return faultstore.Memory(clock.Now) }

// reads is how many store reads (Get and List) store has served.
func reads(store *faultstore.Store) int { return store.Calls(faultstore.Get, faultstore.List) }

// storeConfig is a generated-key Config: TTL 2h, rotation every hour, 30s
// leeway. Its Manager builds a Keyring of its own.
func storeConfig(store *faultstore.Store, clock *fakeclock.Clock) Config {
	return Config{
		AppID:       testApp,
		TTL:         2 * time.Hour,
		Store:       store,
		KeyPrefix:   "wx:",
		RotateEvery: time.Hour,
		Leeway:      30 * time.Second,
		Now:         clock.Now,
	}
}

// keyringConfig is storeConfig's KeyringConfig.
func keyringConfig(store *faultstore.Store, clock *fakeclock.Clock) KeyringConfig {
	return KeyringConfig{
		Store:       store,
		KeyPrefix:   "wx:",
		TTL:         2 * time.Hour,
		RotateEvery: time.Hour,
		Leeway:      30 * time.Second,
		Now:         clock.Now,
	}
}

// mustKeyring is a Keyring without the background check, so that a test
// decides when it checks; closed when the test ends.
func mustKeyring(t testing.TB, cfg KeyringConfig) *Keyring {
	t.Helper()
	k, err := newKeyring(cfg)
	if err != nil {
		t.Fatalf("newKeyring: %v", err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// withKeyring is a Manager config for testApp that uses k.
func withKeyring(k *Keyring, clock *fakeclock.Clock) Config {
	return Config{AppID: testApp, TTL: 2 * time.Hour, Keyring: k, Leeway: 30 * time.Second, Now: clock.Now}
}

// keyringOf returns the Keyring of a generated-key Manager.
func keyringOf(t testing.TB, m *Manager) *Keyring {
	t.Helper()
	k, ok := m.keys.(*Keyring)
	if !ok {
		t.Fatalf("the manager's keys are %T, not a Keyring", m.keys)
	}
	return k
}

// signerKey and listKey are the store keys of epoch e under storeConfig's prefix.
func signerKey(e int64) string { return fmt.Sprintf("wx:signing-key:%d", e) }
func listKey(e int64) string   { return fmt.Sprintf("wx:public-keys:%d", e) }

// pemConfig is a static-key Config: TTL 2h, 30s leeway.
func pemConfig(pemData []byte, clock *fakeclock.Clock) Config {
	return Config{
		AppID:         testApp,
		TTL:           2 * time.Hour,
		SigningKeyPEM: pemData,
		Leeway:        30 * time.Second,
		Now:           clock.Now,
	}
}

func mustNew(t testing.TB, cfg Config) *Manager {
	t.Helper()
	m, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func mustIssue(t testing.TB, m *Manager, openid string) (string, Claims) {
	t.Helper()
	raw, c, err := m.Issue(context.Background(), openid)
	if err != nil {
		t.Fatalf("Issue(%q): %v", openid, err)
	}
	return raw, c
}

func newEd25519(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newECDSA(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pemPKCS8(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func pemSEC1(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// validClaims are the claims of a well-formed token issued now by testApp.
func validClaims(now time.Time) map[string]any {
	return map[string]any{
		jwt.IssuerKey:     Issuer,
		jwt.AudienceKey:   testApp,
		jwt.SubjectKey:    "o-user",
		jwt.JwtIDKey:      "crafted-jti-0123456789",
		jwt.IssuedAtKey:   now,
		jwt.NotBeforeKey:  now,
		jwt.ExpirationKey: now.Add(time.Hour),
	}
}

// craft signs claims with jwx under the given algorithm, key and kid: what an
// attacker (or a buggy issuer) could produce. Claims go through encoding/json
// as they are (time.Time as Unix seconds), so that they may be of any type.
func craft(t testing.TB, claims map[string]any, alg jwa.SignatureAlgorithm, key any, kid string) string {
	t.Helper()
	payload := make(map[string]any, len(claims))
	for k, v := range claims {
		if tm, ok := v.(time.Time); ok {
			v = tm.Unix()
		}
		payload[k] = v
	}
	body, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	for k, v := range map[string]string{jws.KeyIDKey: kid, jws.TypeKey: "JWT"} {
		if err := hdr.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	out, err := jws.Sign(body, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return string(out)
}

// b64json is base64url(JSON(v)), for hand-built attacker tokens that jwx
// refuses to produce (alg none, bad segments).
func b64json(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// segments splits a compact token into its three parts.
func segments(t testing.TB, raw string) (header, payload, sig string) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d segments", raw, len(parts))
	}
	return parts[0], parts[1], parts[2]
}

// decodeSegment base64url-decodes a token segment into a JSON object.
func decodeSegment(t testing.TB, seg string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("decoding segment: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("segment is not a JSON object: %v", err)
	}
	return m
}

// kidOf returns the kid in raw's header.
func kidOf(t testing.TB, raw string) string {
	t.Helper()
	h, _, _ := segments(t, raw)
	kid, _ := decodeSegment(t, h)["kid"].(string)
	return kid
}

func sameClaims(a, b Claims) bool {
	return a.ID == b.ID && a.OpenID == b.OpenID && a.IssuedAt.Equal(b.IssuedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

// publicBytes is the raw encoding of a public key, the HMAC secret of the
// classic algorithm-confusion attack.
func publicBytes(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return []byte(k)
	case *ecdsa.PublicKey:
		b, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Fatalf("unexpected public key %T", pub)
	return nil
}
