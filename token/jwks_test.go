package token

import (
	"context"
	"crypto/elliptic"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/wxauth/caddy-wxauth/internal/fakeclock"
)

// jwksEntry is the part of a published JWK a test looks at; extra holds every
// member so that private ones can be spotted.
type jwksEntry struct {
	KID, Alg, Use, Kty string
	extra              map[string]any
}

func parseJWKS(t *testing.T, out []byte) []jwksEntry {
	t.Helper()
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("JWKS is not JSON: %v\n%s", err, out)
	}
	var entries []jwksEntry
	for _, k := range doc.Keys {
		str := func(name string) string { s, _ := k[name].(string); return s }
		entries = append(entries, jwksEntry{KID: str("kid"), Alg: str("alg"), Use: str("use"), Kty: str("kty"), extra: k})
	}
	return entries
}

func TestJWKS(t *testing.T) {
	ctx := context.Background()

	staticClock := fakeclock.New(t0)
	edPEM, ecPEM := pemPKCS8(t, newEd25519(t)), pemSEC1(t, newECDSA(t, elliptic.P256()))
	static := mustNew(t, pemConfig(append(append([]byte{}, edPEM...), ecPEM...), staticClock))
	oldStatic := mustNew(t, pemConfig(ecPEM, staticClock))

	storeClock := fakeclock.New(t0)
	store := newStore(storeClock)
	generated := mustNew(t, storeConfig(store, storeClock))
	prevToken, _ := mustIssue(t, generated, "o-user")
	storeClock.Advance(20 * time.Minute) // next epoch: two keys verify now
	curToken, _ := mustIssue(t, generated, "o-user")
	oldStaticToken, _ := mustIssue(t, oldStatic, "o-user")
	staticToken, _ := mustIssue(t, static, "o-user")

	tests := []struct {
		name     string
		m        *Manager
		wantKIDs []string // in order: the signer first
		wantAlgs []string
		tokens   []string // each must verify against the published set alone
	}{
		{
			name:     "static keys are all published, the signer first",
			m:        static,
			wantKIDs: []string{kidOf(t, staticToken), kidOf(t, oldStaticToken)},
			wantAlgs: []string{"EdDSA", "ES256"},
			tokens:   []string{staticToken, oldStaticToken},
		},
		{
			name:     "generated keys of every epoch that may have valid tokens are published",
			m:        generated,
			wantKIDs: []string{kidOf(t, curToken), kidOf(t, prevToken)},
			wantAlgs: []string{"EdDSA", "EdDSA"},
			tokens:   []string{curToken, prevToken},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.m.JWKS(ctx)
			if err != nil {
				t.Fatalf("JWKS: %v", err)
			}
			entries := parseJWKS(t, out)
			var kids, algs []string
			for _, e := range entries {
				kids, algs = append(kids, e.KID), append(algs, e.Alg)
				if e.Use != "sig" {
					t.Errorf("key %s has use %q; want sig", e.KID, e.Use)
				}
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
					if _, ok := e.extra[private]; ok {
						t.Errorf("key %s publishes private member %q", e.KID, private)
					}
				}
			}
			if strings.Contains(string(out), `"d"`) {
				t.Errorf("JWKS contains \"d\": %s", out)
			}
			if !slices.Equal(kids, tt.wantKIDs) || !slices.Equal(algs, tt.wantAlgs) {
				t.Errorf("JWKS kids %v algs %v; want %v %v", kids, algs, tt.wantKIDs, tt.wantAlgs)
			}

			// An upstream holding only the JWKS can verify forwarded tokens.
			set, err := jwk.Parse(out)
			if err != nil {
				t.Fatalf("jwk.Parse: %v", err)
			}
			for _, raw := range tt.tokens {
				if _, err := jwt.Parse([]byte(raw), jwt.WithKeySet(set), jwt.WithValidate(false)); err != nil {
					t.Errorf("token with kid %s does not verify against the JWKS: %v", kidOf(t, raw), err)
				}
			}
		})
	}
}

func TestJWKSOfAFreshEpochListsTheKeyThatWillSign(t *testing.T) {
	clock := fakeclock.New(t0)
	store := newStore(clock)
	m := mustNew(t, storeConfig(store, clock))
	clock.Advance(20 * time.Minute) // a new epoch, no token issued in it yet
	out, err := m.JWKS(context.Background())
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	raw, _ := mustIssue(t, m, "o-user")
	if entries := parseJWKS(t, out); len(entries) == 0 || entries[0].KID != kidOf(t, raw) {
		t.Fatalf("JWKS %s does not start with the signing kid %s", out, kidOf(t, raw))
	}
}
