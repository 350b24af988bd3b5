package token

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/fakeclock"
	"github.com/wxauth/caddy-wxauth/internal/faultstore"
)

func TestSigningKeyPEM(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024) // small: it is only ever refused
	if err != nil {
		t.Fatal(err)
	}
	p256 := newECDSA(t, elliptic.P256())
	p384 := newECDSA(t, elliptic.P384())
	ed := newEd25519(t)
	pubDER, err := x509.MarshalPKIXPublicKey(ed.Public())
	if err != nil {
		t.Fatal(err)
	}
	ecParams := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}})
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{1, 2, 3}})

	tests := []struct {
		name    string
		pem     []byte
		wantAlg string // "" when New must fail
		wantErr string
	}{
		{"an Ed25519 PKCS#8 key signs with EdDSA", pemPKCS8(t, ed), "EdDSA", ""},
		{"a P-256 PKCS#8 key signs with ES256", pemPKCS8(t, p256), "ES256", ""},
		{"a P-256 SEC1 key signs with ES256", pemSEC1(t, p256), "ES256", ""},
		{"a SEC1 key after openssl's EC PARAMETERS block is read", append(ecParams, pemSEC1(t, p256)...), "ES256", ""},
		{"text around the PEM block is ignored", []byte("my key\n" + string(pemPKCS8(t, ed)) + "\nend\n"), "EdDSA", ""},
		{"an RSA PKCS#8 key is refused", pemPKCS8(t, rsaKey), "", "*rsa.PrivateKey keys are not supported"},
		{"an RSA PKCS#1 key is refused", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), "", "not a supported private key"},
		{"a P-384 PKCS#8 key is refused", pemPKCS8(t, p384), "", "only P-256"},
		{"a P-384 SEC1 key is refused", pemSEC1(t, p384), "", "only P-256"},
		{"a public key alone is refused", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), "", "not a supported private key"},
		{"an encrypted PEM key is refused", encrypted, "", "encrypted"},
		{"a PRIVATE KEY block holding garbage is refused", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage")}), "", "parsing private key"},
		{"garbage without PEM blocks is refused", []byte("this is not a key"), "", "no PEM private key found"},
		{"EC PARAMETERS without a key is refused", ecParams, "", "no PEM private key found"},
		{"the same key twice is refused", append(pemPKCS8(t, ed), pemPKCS8(t, ed)...), "", "appears twice"},
		{"a good key followed by a bad one is refused", append(pemPKCS8(t, ed), pemPKCS8(t, rsaKey)...), "", "PEM block 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(context.Background(), pemConfig(tt.pem, fakeclock.New(t0)))
			if tt.wantAlg == "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New = %v; want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			raw, _ := mustIssue(t, m, "o-user")
			h, _, _ := segments(t, raw)
			if got := decodeSegment(t, h)["alg"]; got != tt.wantAlg {
				t.Errorf("alg = %v; want %s", got, tt.wantAlg)
			}
			if _, err := m.Verify(context.Background(), raw); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

// TestKIDIsTheRFC7638Thumbprint checks the kid against RFC 8037 appendix A.3,
// an independent Ed25519 thumbprint vector.
func TestKIDIsTheRFC7638Thumbprint(t *testing.T) {
	seed, err := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	if err != nil {
		t.Fatal(err)
	}
	m := mustNew(t, pemConfig(pemPKCS8(t, ed25519.NewKeyFromSeed(seed)), fakeclock.New(t0)))
	raw, _ := mustIssue(t, m, "o-user")
	if got, want := kidOf(t, raw), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Fatalf("kid = %q; want %q", got, want)
	}
}

func TestSecondPEMKeyVerifiesTokensOfTheOldKey(t *testing.T) {
	clock := fakeclock.New(t0)
	oldKey, newKey := pemPKCS8(t, newEd25519(t)), pemPKCS8(t, newECDSA(t, elliptic.P256()))
	old := mustNew(t, pemConfig(oldKey, clock))
	rotated := mustNew(t, pemConfig(append(append([]byte{}, newKey...), oldKey...), clock))
	onlyNew := mustNew(t, pemConfig(newKey, clock))
	ctx := context.Background()

	oldToken, _ := mustIssue(t, old, "o-user")
	newToken, _ := mustIssue(t, rotated, "o-user")
	if kidOf(t, oldToken) == kidOf(t, newToken) {
		t.Fatal("the rotated manager still signs with the old key")
	}
	tests := []struct {
		name  string
		m     *Manager
		raw   string
		valid bool
	}{
		{"the rotated manager verifies a token of the old key", rotated, oldToken, true},
		{"the rotated manager verifies its own token", rotated, newToken, true},
		{"the old manager refuses a token of the new key", old, newToken, false},
		{"a manager without the old key refuses its tokens", onlyNew, oldToken, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.m.Verify(ctx, tt.raw)
			if tt.valid && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tt.valid && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify = %v; want ErrInvalid", err)
			}
		})
	}
}

func TestGeneratedKeysRotateAndOldTokensKeepVerifying(t *testing.T) {
	clock := fakeclock.New(t0) // 10 minutes before an epoch boundary
	store := newStore(clock)
	m := mustNew(t, storeConfig(store, clock))
	ctx := context.Background()
	e := keyringOf(t, m).epoch(clock.Now())

	tok1, c1 := mustIssue(t, m, "o-user")
	if kid := kidOf(t, tok1); !strings.HasPrefix(kid, strconv.FormatInt(e, 10)+".") {
		t.Fatalf("kid %q does not start with epoch %d", kid, e)
	}
	if _, err := store.Get(ctx, signerKey(e)); err != nil {
		t.Fatalf("no key stored at %s: %v", signerKey(e), err)
	}

	clock.Advance(20 * time.Minute) // epoch e+1
	tok2, _ := mustIssue(t, m, "o-user")
	if kid := kidOf(t, tok2); !strings.HasPrefix(kid, strconv.FormatInt(e+1, 10)+".") || kid == kidOf(t, tok1) {
		t.Fatalf("after the boundary the kid is %q; want a new key of epoch %d", kid, e+1)
	}
	for name, raw := range map[string]string{"the previous epoch's": tok1, "this epoch's": tok2} {
		if _, err := m.Verify(ctx, raw); err != nil {
			t.Errorf("%s token was refused: %v", name, err)
		}
	}

	clock.Advance(c1.ExpiresAt.Sub(clock.Now()))
	if _, err := m.Verify(ctx, tok1); !errors.Is(err, ErrInvalid) {
		t.Errorf("tok1 at its exp: %v; want ErrInvalid", err)
	}
	if _, err := m.Verify(ctx, tok2); err != nil {
		t.Errorf("tok2 was refused while still valid: %v", err)
	}

	// Much later, epoch e has left the window: refused without a store read.
	clock.Advance(10 * time.Hour)
	mustIssue(t, m, "o-user") // load the current key so the next count is Verify's alone
	before := store.Calls()
	if _, err := m.Verify(ctx, tok1); !errors.Is(err, ErrInvalid) {
		t.Errorf("tok1 10h later: %v; want ErrInvalid", err)
	}
	if after := store.Calls(); after != before {
		t.Errorf("verifying a kid outside the window called the store %d times", after-before)
	}
}

// TestStoredKeysOutliveTheirLastToken pins how long a generated key stays in
// the store: created up to Leeway before its epoch by a clock ahead, it signs
// until the epoch ends, and its last token (exp rounded up to a second) is
// accepted until TTL + 1s later by a clock Leeway behind; one more epoch is
// kept as margin.
func TestStoredKeysOutliveTheirLastToken(t *testing.T) {
	clock := fakeclock.New(t0)
	store := newStore(clock)
	m := mustNew(t, storeConfig(store, clock))
	ctx := context.Background()
	e := keyringOf(t, m).epoch(clock.Now())
	mustIssue(t, m, "o-user")

	keyTTL := 2*time.Hour + 2*time.Hour + 2*30*time.Second + time.Second // 2*RotateEvery + TTL + 2*Leeway + 1s
	epochEnd := t0.Truncate(time.Hour).Add(time.Hour)
	lastAccepted := epochEnd.Add(2*time.Hour + time.Second + 30*time.Second) // TTL, rounding, a clock Leeway behind
	tests := []struct {
		name    string
		after   time.Duration
		present bool
	}{
		{"the key and its list are stored when the epoch's last token is last accepted", lastAccepted.Sub(t0), true},
		{"the key and its list are stored just before their TTL", keyTTL - time.Second, true},
		{"the key and its list are gone at their TTL", keyTTL, false},
	}
	start := clock.Now()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Set(start.Add(tt.after))
			_, err := store.Get(ctx, signerKey(e))
			list, lerr := store.List(ctx, listKey(e))
			if lerr != nil {
				t.Fatal(lerr)
			}
			if got := err == nil; got != tt.present || (len(list) > 0) != tt.present {
				t.Fatalf("after %s: signing key present %v (%v), list %d items; want present %v", tt.after, got, err, len(list), tt.present)
			}
		})
	}
}

func TestGeneratedKeyMissingFromTheStoreNoLongerVerifies(t *testing.T) {
	clock := fakeclock.New(t0)
	store := newStore(clock)
	m := mustNew(t, storeConfig(store, clock))
	e := keyringOf(t, m).epoch(clock.Now())
	raw, _ := mustIssue(t, m, "o-user")

	clock.Advance(20 * time.Minute) // epoch e+1, so a fresh manager knows only e+1
	for _, key := range []string{signerKey(e), listKey(e)} {
		if err := store.Delete(context.Background(), key); err != nil {
			t.Fatal(err)
		}
	}
	fresh := mustNew(t, storeConfig(store, clock))
	if _, err := fresh.Verify(context.Background(), raw); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Verify after the key left the store = %v; want ErrInvalid", err)
	}
}

func TestManagersSharingAStoreAgreeOnKeys(t *testing.T) {
	ctx := context.Background()

	t.Run("a second manager uses the first one's key", func(t *testing.T) {
		clock := fakeclock.New(t0)
		store := newStore(clock)
		a := mustNew(t, storeConfig(store, clock))
		b := mustNew(t, storeConfig(store, clock))
		ta, _ := mustIssue(t, a, "o-user")
		tb, _ := mustIssue(t, b, "o-user")
		if kidOf(t, ta) != kidOf(t, tb) {
			t.Fatalf("kids differ: %s vs %s", kidOf(t, ta), kidOf(t, tb))
		}
		if _, err := a.Verify(ctx, tb); err != nil {
			t.Errorf("a refused b's token: %v", err)
		}
		if _, err := b.Verify(ctx, ta); err != nil {
			t.Errorf("b refused a's token: %v", err)
		}
	})

	t.Run("the loser of the SetNX race adopts the winner's key", func(t *testing.T) {
		clock := fakeclock.New(t0)
		store := newStore(clock)
		var (
			fired  atomic.Bool
			winner *Manager
		)
		// The loser has found no key and is about to store its own; the
		// winner gets there first.
		store.Hook(faultstore.SetNX, func(context.Context) error {
			if !fired.Swap(true) {
				winner = mustNew(t, storeConfig(store, clock))
				mustIssue(t, winner, "o-user")
			}
			return nil
		})
		loser := mustNew(t, storeConfig(store, clock))
		tl, _ := mustIssue(t, loser, "o-user")
		tw, _ := mustIssue(t, winner, "o-user")
		if kidOf(t, tw) != kidOf(t, tl) {
			t.Fatalf("the loser signs with %s, the winner with %s", kidOf(t, tl), kidOf(t, tw))
		}
		if setnxs := store.Calls(faultstore.SetNX); setnxs != 2 {
			t.Errorf("SetNX calls = %d; want 2", setnxs)
		}
		if _, err := winner.Verify(ctx, tl); err != nil {
			t.Errorf("the winner refused the loser's token: %v", err)
		}
	})

	t.Run("managers starting at once all end up with one key", func(t *testing.T) {
		clock := fakeclock.New(t0)
		store := newStore(clock)
		const n = 8
		kids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				m, err := New(ctx, storeConfig(store, clock))
				if err != nil {
					t.Errorf("New: %v", err)
					return
				}
				raw, _, err := m.Issue(ctx, "o-user")
				if err != nil {
					t.Errorf("Issue: %v", err)
					return
				}
				kids[i] = kidOf(t, raw)
			})
		}
		wg.Wait()
		for i := range kids {
			if kids[i] != kids[0] {
				t.Fatalf("kids differ: %v", kids)
			}
		}
		k := mustKeyring(t, keyringConfig(store, clock))
		listed, err := k.readList(ctx, k.epoch(clock.Now()))
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range listed {
			if key.kid != kids[0] {
				t.Errorf("the epoch's list has %s besides the signing key %s", key.kid, kids[0])
			}
		}
	})

	t.Run("a restarted instance verifies tokens issued before the restart", func(t *testing.T) {
		clock := fakeclock.New(t0)
		store := newStore(clock)
		before := mustNew(t, storeConfig(store, clock))
		raw, issued := mustIssue(t, before, "o-user")
		clock.Advance(time.Hour) // and across a rotation
		after := mustNew(t, storeConfig(store, clock))
		got, err := after.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("Verify after restart: %v", err)
		}
		if !sameClaims(got, issued) {
			t.Errorf("claims = %+v; want %+v", got, issued)
		}
	})

	t.Run("a manager of another app_id on the same store refuses the token", func(t *testing.T) {
		clock := fakeclock.New(t0)
		store := newStore(clock)
		ours := mustNew(t, storeConfig(store, clock))
		cfg := storeConfig(store, clock)
		cfg.AppID = "wxotherapp"
		raw, _ := mustIssue(t, mustNew(t, cfg), "o-user")
		if _, err := ours.Verify(ctx, raw); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Verify = %v; want ErrInvalid", err)
		}
	})
}

func TestGeneratedKeysAcceptAClockAheadAcrossTheBoundary(t *testing.T) {
	behind := fakeclock.New(t0.Add(10*time.Minute - 5*time.Second)) // 5s before the boundary
	ahead := fakeclock.New(behind.Now().Add(20 * time.Second))      // 15s past it
	store := newStore(behind)
	verifier := mustNew(t, storeConfig(store, behind))
	raw, _ := mustIssue(t, mustNew(t, storeConfig(store, ahead)), "o-user")
	if _, err := verifier.Verify(context.Background(), raw); err != nil {
		t.Fatalf("a token signed in the next epoch by a clock 20s ahead was refused: %v", err)
	}
}

func TestStoreFailures(t *testing.T) {
	ctx := context.Background()
	down := errors.New("store: connection refused")

	// setup issues a token in epoch e, moves to epoch e+1 and starts a fresh
	// manager there, so that verifying the token needs a store read.
	setup := func(t *testing.T) (*Manager, *faultstore.Store, *fakeclock.Clock, string) {
		clock := fakeclock.New(t0)
		store := newStore(clock)
		raw, _ := mustIssue(t, mustNew(t, storeConfig(store, clock)), "o-user")
		clock.Advance(20 * time.Minute)
		m := mustNew(t, storeConfig(store, clock))
		store.Fail(down)
		return m, store, clock, raw
	}

	t.Run("Verify reports an unreachable store, not an invalid token", func(t *testing.T) {
		m, store, _, raw := setup(t)
		_, err := m.Verify(ctx, raw)
		if errors.Is(err, ErrInvalid) || !errors.Is(err, down) {
			t.Fatalf("Verify = %v; want the store error, not ErrInvalid", err)
		}
		store.Fail(nil)
		if _, err := m.Verify(ctx, raw); err != nil {
			t.Fatalf("Verify once the store is back: %v", err)
		}
	})

	t.Run("Issue reports an unreachable store at start-up", func(t *testing.T) {
		m, _, _, _ := setup(t)
		if _, _, err := m.Issue(ctx, "o-user"); errors.Is(err, ErrInvalid) || !errors.Is(err, down) {
			t.Fatalf("Issue = %v; want the store error", err)
		}
	})

	t.Run("Issue reports an unreachable store at rotation", func(t *testing.T) {
		m, store, clock, _ := setup(t)
		store.Fail(nil)
		mustIssue(t, m, "o-user")
		store.Fail(down)
		clock.Advance(time.Hour) // the next epoch's key must be loaded
		if _, _, err := m.Issue(ctx, "o-user"); errors.Is(err, ErrInvalid) || !errors.Is(err, down) {
			t.Fatalf("Issue = %v; want the store error", err)
		}
	})

	t.Run("JWKS reports an unreachable store when it knows no key", func(t *testing.T) {
		m, _, _, _ := setup(t)
		if out, err := m.JWKS(ctx); !errors.Is(err, down) {
			t.Fatalf("JWKS = %s, %v; want the store error", out, err)
		}
	})

	for _, c := range []struct{ name, value string }{
		{"a stored symmetric key is an error, not an invalid token", `{"kty":"oct","k":"c2VjcmV0"}`},
		{"a stored public key is an error, not an invalid token", `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`},
		{"a stored non-JSON value is an error, not an invalid token", `not json`},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := fakeclock.New(t0)
			store := newStore(clock)
			m := mustNew(t, storeConfig(store, clock))
			if _, err := store.SetNX(ctx, signerKey(keyringOf(t, m).epoch(clock.Now())), []byte(c.value), time.Hour); err != nil {
				t.Fatal(err)
			}
			if _, _, err := m.Issue(ctx, "o-user"); err == nil || errors.Is(err, ErrInvalid) {
				t.Fatalf("Issue = %v; want an error about the stored key", err)
			}
		})
	}
}

// forged returns a syntactically valid token naming kid, with a random
// signature: what an attacker floods a verifier with.
func forged(t testing.TB, kid string) string {
	sig := make([]byte, 64)
	rand.Read(sig)
	return b64json(t, map[string]any{"alg": "EdDSA", "kid": kid}) + "." +
		b64json(t, validClaims(t0)) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestForgedKIDsCostAtMostOneStoreReadPerEpochPerSecond floods a verifier
// with forged kids. An unknown kid of the window re-reads its epoch's list at
// most once per missTTL; the first read of an epoch whose list is empty also
// reads its signing key (keys of an older version), once.
func TestForgedKIDsCostAtMostOneStoreReadPerEpochPerSecond(t *testing.T) {
	clock := fakeclock.New(t0)
	store := newStore(clock)
	m := mustNew(t, storeConfig(store, clock))
	ctx := context.Background()
	e := keyringOf(t, m).epoch(clock.Now())
	realKID := kidOf(t, mustIssueRaw(t, m))
	thumb := func() string {
		b := make([]byte, 32)
		rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}

	tests := []struct {
		name     string
		kid      func() string
		maxReads int
	}{
		{"random kids of the current epoch read its list at most once", func() string { return fmt.Sprintf("%d.%s", e, thumb()) }, 1},
		{"random kids of an absent epoch in the window read it once", func() string { return fmt.Sprintf("%d.%s", e-1, thumb()) }, 2},
		{"kids of a future epoch read nothing", func() string { return fmt.Sprintf("%d.%s", e+1, thumb()) }, 0},
		{"kids older than the window read nothing", func() string { return fmt.Sprintf("%d.%s", e-100, thumb()) }, 0},
		{"kids of a negative epoch read nothing", func() string { return fmt.Sprintf("-%d.%s", e, thumb()) }, 0},
		{"kids with a non-numeric epoch read nothing", func() string { return "x" + thumb() + "." + thumb() }, 0},
		{"kids without an epoch read nothing", func() string { return thumb() }, 0},
		{"an alias of the real epoch reads nothing", func() string { return "+" + realKID }, 0},
		{"the real kid with a zero-padded epoch reads nothing", func() string { return "0" + realKID }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := store.Calls()
			for range 1000 {
				if _, err := m.Verify(ctx, forged(t, tt.kid())); !errors.Is(err, ErrInvalid) {
					t.Fatalf("Verify = %v; want ErrInvalid", err)
				}
			}
			if after := store.Calls(); after-before > tt.maxReads {
				t.Fatalf("1000 forged tokens read the store %d times; want at most %d", after-before, tt.maxReads)
			}
		})
	}

	t.Run("a remembered miss expires after a second", func(t *testing.T) {
		before := store.Calls()
		clock.Advance(missTTL + time.Millisecond)
		for range 1000 {
			m.Verify(ctx, forged(t, fmt.Sprintf("%d.%s", e-1, thumb())))
		}
		if after := store.Calls(); after-before != 1 {
			t.Fatalf("after the miss expired, 1000 forged tokens read the store %d times; want 1", after-before)
		}
	})

	t.Run("concurrent forged tokens share one read of the epoch", func(t *testing.T) {
		clock.Advance(missTTL + time.Millisecond)
		before := store.Calls()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 100 {
					m.Verify(ctx, forged(t, fmt.Sprintf("%d.%s", e-2, thumb())))
				}
			})
		}
		wg.Wait()
		// One read of an epoch never read before: its list, and its signing
		// key since the list is empty.
		if after := store.Calls(); after-before != 2 {
			t.Fatalf("800 concurrent forged tokens called the store %d times; want 2", after-before)
		}
	})
}

func mustIssueRaw(t testing.TB, m *Manager) string {
	raw, _ := mustIssue(t, m, "o-user")
	return raw
}

// TestStoredKeyIsAPrivateJWK pins the store format other instances (and
// other versions) read.
func TestStoredKeyIsAPrivateJWK(t *testing.T) {
	clock := fakeclock.New(t0)
	store := newStore(clock)
	m := mustNew(t, storeConfig(store, clock))
	mustIssue(t, m, "o-user")
	e := keyringOf(t, m).epoch(clock.Now())
	value, err := store.Get(context.Background(), signerKey(e))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"kty":"OKP"`, `"crv":"Ed25519"`, `"d":`, `"x":`} {
		if !bytes.Contains(value, []byte(field)) {
			t.Errorf("stored key %s lacks %s", value, field)
		}
	}
}

// TestGeneratedKIDMustMatchExactly signs with the real generated key under
// spellings of its kid that parse to the same epoch: the epoch only routes
// the lookup, so every other spelling is refused.
func TestGeneratedKIDMustMatchExactly(t *testing.T) {
	clock := fakeclock.New(t0)
	m := mustNew(t, storeConfig(newStore(clock), clock))
	key, err := m.keys.signer(context.Background(), clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	epoch, thumb, _ := strings.Cut(key.kid, ".")
	if _, err := m.Verify(context.Background(), craft(t, validClaims(clock.Now()), key.alg, key.priv, key.kid)); err != nil {
		t.Fatalf("the control token under the exact kid was refused: %v", err)
	}
	tests := []struct{ name, kid string }{
		{"a plus-signed epoch is refused", "+" + key.kid},
		{"a zero-padded epoch is refused", "0" + key.kid},
		{"an extended thumbprint is refused", epoch + "." + thumb + "x"},
		{"an epoch with an empty thumbprint is refused", epoch + "."},
		{"an epoch alone is refused", epoch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := craft(t, validClaims(clock.Now()), key.alg, key.priv, tt.kid)
			if _, err := m.Verify(context.Background(), raw); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify under kid %q = %v; want ErrInvalid", tt.kid, err)
			}
		})
	}
}
