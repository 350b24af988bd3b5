package token

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/wxauth/caddy-wxauth/internal/fakeclock"
	"github.com/wxauth/caddy-wxauth/internal/faultstore"
)

// instance is one Caddy instance of a test: a Keyring that outlives its
// Managers, and its current Manager.
type instance struct {
	ring *Keyring
	m    *Manager
}

func newInstance(t *testing.T, store *faultstore.Store, clock *fakeclock.Clock) *instance {
	t.Helper()
	ring := mustKeyring(t, keyringConfig(store, clock))
	return &instance{ring: ring, m: mustNew(t, withKeyring(ring, clock))}
}

// reload builds a new Manager on the same Keyring, as a Caddy config reload
// does with a pooled Keyring.
func (in *instance) reload(t *testing.T, clock *fakeclock.Clock) {
	t.Helper()
	in.m = mustNew(t, withKeyring(in.ring, clock))
}

func (in *instance) check(t *testing.T) {
	t.Helper()
	if err := in.ring.check(context.Background()); err != nil {
		t.Fatalf("check: %v", err)
	}
}

// verifiesAll fails unless every instance verifies every token.
func verifiesAll(t *testing.T, instances map[string]*instance, tokens map[string]string) {
	t.Helper()
	for iname, in := range instances {
		for tname, raw := range tokens {
			if _, err := in.m.Verify(context.Background(), raw); err != nil {
				t.Errorf("%s refused %s (kid %s): %v", iname, tname, kidOf(t, raw), err)
			}
		}
	}
}

// listedKIDs returns the kids on epoch e's list.
func listedKIDs(t *testing.T, store *faultstore.Store, e int64) []string {
	t.Helper()
	list, err := store.List(context.Background(), listKey(e))
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, item := range list {
		var entry struct {
			KID string `json:"kid"`
		}
		if err := json.Unmarshal(item, &entry); err != nil {
			t.Fatalf("list entry %s: %v", item, err)
		}
		kids = append(kids, entry.KID)
	}
	return kids
}

// eventually polls cond for up to 5s of real time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKeysSurviveTheStoreLosingItsData: the store (a Redis without
// persistence) restarts empty while instances hold keys. Every token issued
// before keeps verifying on every instance, and instances agree on one
// signing key again within a check.
func TestKeysSurviveTheStoreLosingItsData(t *testing.T) {
	t.Run("a reloaded instance keeps signing with the key the others use", func(t *testing.T) {
		clock := fakeclock.New(t0)
		store := newStore(clock)
		a, b := newInstance(t, store, clock), newInstance(t, store, clock)
		before, _ := mustIssue(t, a.m, "o-user")
		mustIssue(t, b.m, "o-user")

		store.Wipe()
		b.reload(t, clock) // finds no key in the store, but its Keyring has one
		fromB, _ := mustIssue(t, b.m, "o-user")
		fromA, _ := mustIssue(t, a.m, "o-user")
		if kidOf(t, fromA) != kidOf(t, before) || kidOf(t, fromB) != kidOf(t, before) {
			t.Fatalf("kids after the loss: a %s, b %s; want both %s", kidOf(t, fromA), kidOf(t, fromB), kidOf(t, before))
		}

		a.check(t) // puts the key back, so that a newcomer signs with it too
		c := newInstance(t, store, clock)
		fromC, _ := mustIssue(t, c.m, "o-user")
		if kidOf(t, fromC) != kidOf(t, before) {
			t.Fatalf("a newcomer signs with %s; want the key put back, %s", kidOf(t, fromC), kidOf(t, before))
		}
		verifiesAll(t, map[string]*instance{"a": a, "b": b, "c": c},
			map[string]string{"a's token from before": before, "a's token": fromA, "b's token": fromB, "c's token": fromC})
	})

	t.Run("a restarted instance's new key and the keys the others held all verify everywhere", func(t *testing.T) {
		clock := fakeclock.New(t0.Add(-time.Hour)) // an epoch earlier, to carry a token across a rotation
		store := newStore(clock)
		a := newInstance(t, store, clock)
		lastEpoch, _ := mustIssue(t, a.m, "o-user")
		clock.Advance(time.Hour)
		before, _ := mustIssue(t, a.m, "o-user")

		store.Wipe()
		c := newInstance(t, store, clock) // a restart: it knows nothing and creates a key
		fromC, _ := mustIssue(t, c.m, "o-user")
		fromA, _ := mustIssue(t, a.m, "o-user") // a has not checked yet
		if kidOf(t, fromC) == kidOf(t, fromA) {
			t.Fatal("the restarted instance signs with the old key; the test wants a split")
		}

		a.check(t) // adopts c's key and publishes its own
		adopted, _ := mustIssue(t, a.m, "o-user")
		if kidOf(t, adopted) != kidOf(t, fromC) {
			t.Fatalf("after its check a signs with %s; want c's %s", kidOf(t, adopted), kidOf(t, fromC))
		}
		clock.Advance(missTTL) // c may re-read the epoch's list
		verifiesAll(t, map[string]*instance{"a": a, "c": c}, map[string]string{
			"a's token of the last epoch":       lastEpoch,
			"a's token from before the loss":    before,
			"a's token from before its check":   fromA,
			"a's token from after its check":    adopted,
			"c's token with the key it created": fromC,
		})
	})

	t.Run("keys learnt from an instance that restarted meanwhile are put back too", func(t *testing.T) {
		clock := fakeclock.New(t0.Add(-time.Hour))
		store := newStore(clock)
		x := newInstance(t, store, clock)
		fromX, _ := mustIssue(t, x.m, "o-user") // the last epoch's key, which only x created
		clock.Advance(time.Hour)
		a := newInstance(t, store, clock)
		mustIssue(t, a.m, "o-user")
		if _, err := a.m.Verify(context.Background(), fromX); err != nil { // a learns x's key
			t.Fatalf("a refused x's token: %v", err)
		}

		store.Wipe() // and x restarts, forgetting its key
		a.check(t)
		c := newInstance(t, store, clock)
		if _, err := c.m.Verify(context.Background(), fromX); err != nil {
			t.Errorf("a newcomer refused x's token: %v", err)
		}
	})

	t.Run("managers without a shared keyring agree again once one of them signs", func(t *testing.T) {
		clock := fakeclock.New(t0)
		store := newStore(clock)
		a := mustNew(t, storeConfig(store, clock))
		before, _ := mustIssue(t, a, "o-user")

		store.Wipe()
		c := mustNew(t, storeConfig(store, clock))
		fromC, _ := mustIssue(t, c, "o-user")

		clock.Advance(checkEvery)
		mustIssue(t, a, "o-user") // starts a's check in the background
		e := keyringOf(t, a).epoch(clock.Now())
		eventually(t, "a adopts c's key", func() bool {
			s := keyringOf(t, a).signerOf(e)
			return s != nil && s.kid == kidOf(t, fromC)
		})
		eventually(t, "a has published the key it signed with before", func() bool {
			return slices.Contains(listedKIDs(t, store, e), kidOf(t, before))
		})
		clock.Advance(missTTL)
		if _, err := c.Verify(context.Background(), before); err != nil {
			t.Errorf("c refused a's token from before the loss: %v", err)
		}
		if _, err := a.Verify(context.Background(), fromC); err != nil {
			t.Errorf("a refused c's token: %v", err)
		}
	})

	t.Run("the background check puts the key back without any login", func(t *testing.T) {
		clock := fakeclock.New(t0)
		store := newStore(clock)
		ring := mustKeyring(t, keyringConfig(store, clock))
		ring.start(10 * time.Millisecond)
		m := mustNew(t, withKeyring(ring, clock))
		raw, _ := mustIssue(t, m, "o-user")
		e := ring.epoch(clock.Now())

		store.Wipe()
		eventually(t, "the signing key and its list are back in the store", func() bool {
			value, err := store.Get(context.Background(), signerKey(e))
			list, _ := store.List(context.Background(), listKey(e))
			return err == nil && len(value) > 0 && len(list) == 1
		})
		fresh := mustNew(t, storeConfig(store, clock))
		if _, err := fresh.Verify(context.Background(), raw); err != nil {
			t.Errorf("a fresh instance refused the token: %v", err)
		}

		ring.Close()
		time.Sleep(20 * time.Millisecond) // a check started before Close may finish
		calls := store.Calls()
		time.Sleep(50 * time.Millisecond)
		if after := store.Calls(); after != calls {
			t.Errorf("the store was called %d times after Close", after-calls)
		}
	})
}

// TestKeyringCheck is the recovery check, one store state at a time: an
// instance that signed in the last epoch and in this one checks the store.
func TestKeyringCheck(t *testing.T) {
	ctx := context.Background()
	down := errors.New("store: connection refused")
	tests := []struct {
		name string
		// change puts the store in the state to check; other is another
		// instance's key of the current epoch.
		change func(t *testing.T, store *faultstore.Store, other *Keyring)
		// calls is how many store calls the check makes, -1 for any.
		calls         int
		wantErr       error
		signsWithMine bool // the instance keeps its key; otherwise it adopts other's
		listed        bool // the instance's keys are on their epochs' lists
	}{
		{"a store that names the key held costs one GET and changes nothing",
			func(*testing.T, *faultstore.Store, *Keyring) {}, 1, nil, true, true},
		{"a store that lost its data gets the key held back, and the lists",
			func(_ *testing.T, store *faultstore.Store, _ *Keyring) { store.Wipe() }, -1, nil, true, true},
		{"a store that names another key has it adopted, and the keys held published",
			func(t *testing.T, store *faultstore.Store, other *Keyring) {
				store.Wipe()
				if _, err := other.signer(ctx, other.now()); err != nil {
					t.Fatal(err)
				}
			}, -1, nil, false, true},
		{"a store that is down fails the check and the key held keeps signing",
			func(_ *testing.T, store *faultstore.Store, _ *Keyring) { store.Fail(down) }, 1, down, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := fakeclock.New(t0.Add(-time.Hour))
			store := newStore(clock)
			in := newInstance(t, store, clock)
			mustIssue(t, in.m, "o-user")
			clock.Advance(time.Hour)
			mustIssue(t, in.m, "o-user")
			e := in.ring.epoch(clock.Now())
			last, mine := in.ring.signerOf(e-1), in.ring.signerOf(e)
			other := mustKeyring(t, keyringConfig(store, clock))

			tt.change(t, store, other)
			before := store.Calls()
			err := in.ring.check(ctx)
			calls := store.Calls() - before
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("check = %v; want %v", err, tt.wantErr)
			}
			if tt.calls >= 0 && calls != tt.calls {
				t.Errorf("the check called the store %d times; want %d", calls, tt.calls)
			}
			want := mine
			if !tt.signsWithMine {
				want = other.signerOf(e)
			}
			raw, _ := mustIssue(t, in.m, "o-user")
			if kidOf(t, raw) != want.kid {
				t.Errorf("signs with %s; want %s", kidOf(t, raw), want.kid)
			}
			store.Fail(nil)
			if !tt.listed {
				return
			}
			for ep, key := range map[int64]*signingKey{e - 1: last, e: mine} {
				listed, err := in.ring.readList(ctx, ep)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(listed, func(l *signingKey) bool { return l.kid == key.kid }) {
					t.Errorf("the list of epoch %d lacks the instance's key %s", ep, key.kid)
				}
			}
			stored, err := in.ring.readSigner(ctx, e)
			if err != nil || stored.kid != want.kid {
				t.Errorf("the store names %v (%v); want %s", stored, err, want.kid)
			}
		})
	}

	t.Run("an instance that has not signed checks nothing", func(t *testing.T) {
		clock := fakeclock.New(t0)
		store := newStore(clock)
		ring := mustKeyring(t, keyringConfig(store, clock))
		if err := ring.check(ctx); err != nil || store.Calls() != 0 {
			t.Fatalf("check = %v after %d store calls; want nil after none", err, store.Calls())
		}
	})
}

// TestAnUnknownKIDIsLearntFromItsEpochsList: a key another instance
// published for a known epoch verifies once the list may be re-read, at most
// once per missTTL.
func TestAnUnknownKIDIsLearntFromItsEpochsList(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New(t0)
	store := newStore(clock)
	m := mustNew(t, storeConfig(store, clock))
	mustIssue(t, m, "o-user") // reads the epoch's list
	ring := keyringOf(t, m)
	e := ring.epoch(clock.Now())

	other := newEd25519(t)
	key, err := newSigningKey(other, epochPrefix(e))
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.push(ctx, e, key); err != nil {
		t.Fatal(err)
	}
	raw := craft(t, validClaims(clock.Now()), jwa.EdDSA, other, key.kid)

	before := reads(store)
	if _, err := m.Verify(ctx, raw); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Verify within missTTL of the last read = %v; want ErrInvalid", err)
	}
	if n := reads(store) - before; n != 0 {
		t.Fatalf("the list was re-read %d times within missTTL", n)
	}
	clock.Advance(missTTL)
	if _, err := m.Verify(ctx, raw); err != nil {
		t.Fatalf("Verify once the list may be re-read: %v", err)
	}
	if _, err := m.Verify(ctx, raw); err != nil {
		t.Fatalf("Verify of the learnt key: %v", err)
	}
	if n := reads(store) - before; n != 1 {
		t.Fatalf("learning the key read the store %d times; want 1", n)
	}
}

func TestABadListEntryDoesNotHideTheOthers(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New(t0)
	store := newStore(clock)
	raw, _ := mustIssue(t, mustNew(t, storeConfig(store, clock)), "o-user")
	e := keyringOf(t, mustNew(t, storeConfig(store, clock))).epoch(clock.Now())
	for _, bad := range []string{`not json`, `{"kty":"oct","k":"c2VjcmV0"}`, `{"kty":"EC","crv":"P-256"}`} {
		if err := store.Push(ctx, listKey(e), []byte(bad), keepKeys, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mustNew(t, storeConfig(store, clock)).Verify(ctx, raw); err != nil {
		t.Fatalf("a fresh instance refused the token: %v", err)
	}
}

// TestAKeyStoredWithoutAListIsUsed: an older version stored only the
// signing key. Its tokens of a past epoch still verify, and its key of the
// current epoch signs and is put on the list.
func TestAKeyStoredWithoutAListIsUsed(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New(t0)
	store := newStore(clock)
	ring := mustKeyring(t, keyringConfig(store, clock))
	e := ring.epoch(clock.Now())
	old := map[int64]ed25519.PrivateKey{e - 1: newEd25519(t), e: newEd25519(t)}
	kids := map[int64]string{}
	for ep, priv := range old {
		privJWK, err := jwk.FromRaw(priv)
		if err != nil {
			t.Fatal(err)
		}
		value, err := json.Marshal(privJWK)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.SetNX(ctx, signerKey(ep), value, time.Hour); err != nil {
			t.Fatal(err)
		}
		key, err := newSigningKey(priv, epochPrefix(ep))
		if err != nil {
			t.Fatal(err)
		}
		kids[ep] = key.kid
	}
	m := mustNew(t, withKeyring(ring, clock))

	claims := validClaims(clock.Now().Add(-time.Hour)) // issued in the last epoch
	claims["exp"] = clock.Now().Add(time.Hour)
	lastEpoch := craft(t, claims, jwa.EdDSA, old[e-1], kids[e-1])
	if _, err := m.Verify(ctx, lastEpoch); err != nil {
		t.Errorf("a token of the last epoch signed with the older version's key was refused: %v", err)
	}
	raw, _ := mustIssue(t, m, "o-user")
	if kidOf(t, raw) != kids[e] {
		t.Errorf("signs with %s; want the older version's key %s", kidOf(t, raw), kids[e])
	}
	if got := listedKIDs(t, store, e); !slices.Equal(got, []string{kids[e]}) {
		t.Errorf("the epoch's list is %v; want the older version's key %s", got, kids[e])
	}
}

// TestPublishedKeyIsAPublicJWK pins the list format other instances read.
func TestPublishedKeyIsAPublicJWK(t *testing.T) {
	clock := fakeclock.New(t0)
	store := newStore(clock)
	m := mustNew(t, storeConfig(store, clock))
	raw, _ := mustIssue(t, m, "o-user")
	list, err := store.List(context.Background(), listKey(keyringOf(t, m).epoch(clock.Now())))
	if err != nil || len(list) != 1 {
		t.Fatalf("list = %q, %v; want one entry", list, err)
	}
	var entry map[string]any
	if err := json.Unmarshal(list[0], &entry); err != nil {
		t.Fatalf("list entry %s is not JSON: %v", list[0], err)
	}
	if entry["kty"] != "OKP" || entry["crv"] != "Ed25519" || entry["x"] == nil || entry["kid"] != kidOf(t, raw) {
		t.Errorf("list entry %s; want an Ed25519 JWK with x and kid %s", list[0], kidOf(t, raw))
	}
	if _, ok := entry["d"]; ok || bytes.Contains(list[0], []byte(`"d"`)) {
		t.Errorf("list entry %s holds the private key", list[0])
	}
}

// TestNewDoesNotTouchTheStore: a config loads (and `caddy validate` runs)
// while the store is down; the first Issue or Verify reports the store.
func TestNewDoesNotTouchTheStore(t *testing.T) {
	ctx := context.Background()
	down := errors.New("store: connection refused")
	tests := []struct {
		name string
		new  func(t *testing.T, store *faultstore.Store, clock *fakeclock.Clock) *Manager
	}{
		{"a manager over a store", func(t *testing.T, store *faultstore.Store, clock *fakeclock.Clock) *Manager {
			return mustNew(t, storeConfig(store, clock))
		}},
		{"a manager over a keyring", func(t *testing.T, store *faultstore.Store, clock *fakeclock.Clock) *Manager {
			ring, err := NewKeyring(keyringConfig(store, clock))
			if err != nil {
				t.Fatalf("NewKeyring: %v", err)
			}
			t.Cleanup(func() { ring.Close() })
			return mustNew(t, withKeyring(ring, clock))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := fakeclock.New(t0)
			store := newStore(clock)
			store.Fail(down)
			m := tt.new(t, store, clock)
			if n := store.Calls(); n != 0 {
				t.Fatalf("building the manager called the store %d times", n)
			}
			if _, _, err := m.Issue(ctx, "o-user"); errors.Is(err, ErrInvalid) || !errors.Is(err, down) {
				t.Errorf("Issue = %v; want the store error", err)
			}
			kid := fmt.Sprintf("%d.%s", keyringOf(t, m).epoch(clock.Now()), strings.Repeat("A", thumbLen))
			if _, err := m.Verify(ctx, forged(t, kid)); errors.Is(err, ErrInvalid) || !errors.Is(err, down) {
				t.Errorf("Verify = %v; want the store error", err)
			}
			store.Fail(nil)
			raw, _ := mustIssue(t, m, "o-user")
			if _, err := m.Verify(ctx, raw); err != nil {
				t.Errorf("Verify once the store is back: %v", err)
			}
		})
	}
}

func TestJWKSIsServedFromMemoryWhileTheStoreIsDown(t *testing.T) {
	ctx := context.Background()
	down := errors.New("store: connection refused")
	clock := fakeclock.New(t0)
	store := newStore(clock)
	m := mustNew(t, storeConfig(store, clock))
	prev, _ := mustIssue(t, m, "o-user")
	clock.Advance(20 * time.Minute) // next epoch: two keys verify now
	cur, _ := mustIssue(t, m, "o-user")

	store.Fail(down)
	clock.Advance(checkEvery) // the lists are due to be re-read
	out, err := m.JWKS(ctx)
	if err != nil {
		t.Fatalf("JWKS with the store down: %v", err)
	}
	var kids []string
	for _, e := range parseJWKS(t, out) {
		kids = append(kids, e.KID)
	}
	if want := []string{kidOf(t, cur), kidOf(t, prev)}; !slices.Equal(kids, want) {
		t.Fatalf("JWKS kids %v; want %v", kids, want)
	}
}

// TestSharedLoadsOutliveTheCallerThatStartedThem: the first caller of a
// store round trip hangs up; the round trip goes on for the callers that
// joined it, and the first caller stops waiting at once.
func TestSharedLoadsOutliveTheCallerThatStartedThem(t *testing.T) {
	tests := []struct {
		name string
		op   func(ctx context.Context, m *Manager, raw string) error
	}{
		{"loading the signing key", func(ctx context.Context, m *Manager, _ string) error {
			_, _, err := m.Issue(ctx, "o-user")
			return err
		}},
		{"reading an epoch's keys", func(ctx context.Context, m *Manager, raw string) error {
			_, err := m.Verify(ctx, raw)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := fakeclock.New(t0)
			store := newStore(clock)
			raw, _ := mustIssue(t, mustNew(t, storeConfig(store, clock)), "o-user")
			m := mustNew(t, storeConfig(store, clock))

			release, entered := make(chan struct{}), make(chan struct{}, 16)
			hang := func(ctx context.Context) error {
				entered <- struct{}{}
				select {
				case <-release:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			store.Hook(faultstore.Get, hang)
			store.Hook(faultstore.List, hang)

			ctx1, hangUp := context.WithCancel(context.Background())
			first, second := make(chan error, 1), make(chan error, 1)
			go func() { first <- tt.op(ctx1, m, raw) }()
			<-entered
			go func() { second <- tt.op(context.Background(), m, raw) }()
			time.Sleep(50 * time.Millisecond) // the second caller joins the round trip

			hangUp()
			select {
			case err := <-first:
				if !errors.Is(err, context.Canceled) || errors.Is(err, ErrInvalid) {
					t.Errorf("the caller that hung up got %v; want context.Canceled", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("the caller that hung up is still waiting")
			}
			if n := len(entered); n != 0 {
				t.Fatalf("%d more store calls started while the first was held up; want the second caller to share it", n)
			}
			close(release)
			select {
			case err := <-second:
				if err != nil {
					t.Fatalf("the caller that stayed got %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the caller that stayed is still waiting")
			}
		})
	}
}

func TestKeyringConfig(t *testing.T) {
	clock := fakeclock.New(t0)
	store := newStore(clock)

	t.Run("defaults are filled", func(t *testing.T) {
		ring := mustKeyring(t, KeyringConfig{Store: store, TTL: time.Hour})
		if ring.every != 24*time.Hour || ring.leeway != 30*time.Second || ring.now == nil {
			t.Fatalf("defaults: RotateEvery %s, Leeway %s, Now set %v", ring.every, ring.leeway, ring.now != nil)
		}
	})

	for _, tt := range []struct {
		name   string
		mutate func(*KeyringConfig)
		want   string
	}{
		{"a missing store is refused", func(c *KeyringConfig) { c.Store = nil }, "Store is required"},
		{"a zero TTL is refused", func(c *KeyringConfig) { c.TTL = 0 }, "TTL must be positive"},
		{"a negative rotation period is refused", func(c *KeyringConfig) { c.RotateEvery = -time.Hour }, "must not be negative"},
		{"a negative leeway is refused", func(c *KeyringConfig) { c.Leeway = -time.Second }, "must not be negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := keyringConfig(store, clock)
			tt.mutate(&cfg)
			if ring, err := NewKeyring(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewKeyring = %v, %v; want an error containing %q", ring, err, tt.want)
			}
		})
	}

	ring := mustKeyring(t, keyringConfig(store, clock))
	for _, tt := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"a manager with a TTL longer than its keyring's is refused", func(c *Config) { c.TTL = 3 * time.Hour }, "longer than the Keyring's"},
		{"a manager with a keyring and a store is refused", func(c *Config) { c.Store = store }, "are the Keyring's"},
		{"a manager with a keyring and a key prefix is refused", func(c *Config) { c.KeyPrefix = "wx:" }, "are the Keyring's"},
		{"a manager with a keyring and a rotation period is refused", func(c *Config) { c.RotateEvery = time.Hour }, "are the Keyring's"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := withKeyring(ring, clock)
			tt.mutate(&cfg)
			if m, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, %v; want an error containing %q", m, err, tt.want)
			}
		})
	}

	t.Run("a manager with a shorter TTL than its keyring's is accepted", func(t *testing.T) {
		cfg := withKeyring(ring, clock)
		cfg.TTL = time.Hour
		mustNew(t, cfg)
	})
}

func TestKIDEpoch(t *testing.T) {
	thumb := strings.Repeat("A", thumbLen)
	tests := []struct {
		kid  string
		want int64
		ok   bool
	}{
		{"5." + thumb, 5, true},
		{"0." + thumb, 0, true},
		{"-3." + thumb, -3, true},
		{"+5." + thumb, 0, false},
		{"05." + thumb, 0, false},
		{"-0." + thumb, 0, false},
		{"-." + thumb, 0, false},
		{"." + thumb, 0, false},
		{"5x." + thumb, 0, false},
		{"5." + thumb + "A", 0, false},
		{"5." + thumb[1:], 0, false},
		{"5", 0, false},
		{"99999999999999999999." + thumb, 0, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("kid %.24q is read as epoch %d (%v)", tt.kid, tt.want, tt.ok), func(t *testing.T) {
			got, ok := kidEpoch(tt.kid)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("kidEpoch = %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzKIDEpoch: a kid is accepted only in the one spelling a Keyring writes
// for its epoch.
func FuzzKIDEpoch(f *testing.F) {
	thumb := strings.Repeat("A", thumbLen)
	for _, seed := range []string{"5." + thumb, "-3." + thumb, "+5." + thumb, "05." + thumb, "-0." + thumb, "9223372036854775807." + thumb, "9223372036854775808." + thumb, "." + thumb, ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, kid string) {
		e, ok := kidEpoch(kid)
		if !ok {
			if e != 0 {
				t.Fatalf("kidEpoch(%q) = %d, false; want 0 with false", kid, e)
			}
			return
		}
		head, thumb, _ := strings.Cut(kid, ".")
		if want := strconv.FormatInt(e, 10); head != want || len(thumb) != thumbLen {
			t.Fatalf("kidEpoch(%q) = %d, true; but %d is spelt %q", kid, e, e, want)
		}
	})
}
