package auth

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/session"
)

// respellings are spellings of tok that a lenient base64 decoder reads as the
// same token: '=' padding, the standard alphabet, non-zero unused bits.
func respellings(t *testing.T, tok string) map[string]string {
	t.Helper()
	parts := strings.Split(tok, ".")
	sig := parts[2] // Ed25519: 86 characters, the last carries 4 unused bits
	if len(sig)%4 != 2 {
		t.Fatalf("signature segment of %d characters; the test expects 4 unused bits", len(sig))
	}
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", sig[len(sig)-1])
	flipped := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last|1]
	out := map[string]string{
		"= padding":       parts[0] + "." + parts[1] + "." + sig + "==",
		"unused bits set": parts[0] + "." + parts[1] + "." + sig[:len(sig)-1] + string(flipped),
	}
	if std := strings.NewReplacer("-", "+", "_", "/").Replace(tok); std != tok {
		out["standard alphabet"] = std
	}
	return out
}

func TestEverySpellingButTheIssuedOneIsRefusedSoLogoutCoversThemAll(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	id, tok := r.identity(t, "alice")
	for name, variant := range respellings(t, tok) {
		_, err := r.svc.Verify(ctx, variant)
		wantCode(t, err, CodeUnauthorized)
		t.Logf("%s: refused", name)
	}
	if err := r.svc.Logout(ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, raw := range append([]string{tok}, valuesOf(respellings(t, tok))...) {
		_, err := r.svc.Verify(ctx, raw)
		wantCode(t, err, CodeUnauthorized)
	}
}

func valuesOf(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// afterRead runs then once, right after a GetMulti has read the store and
// before its caller sees the values: another instance acting in between.
type afterRead struct {
	session.Store
	then func()
}

func (s *afterRead) GetMulti(ctx context.Context, keys ...string) ([][]byte, error) {
	v, err := s.Store.GetMulti(ctx, keys...)
	if f := s.then; f != nil {
		s.then = nil
		f()
	}
	return v, err
}

func TestAVerifyThatReadNotRevokedJustBeforeLogoutCannotBringTheTokenBack(t *testing.T) {
	store := &afterRead{}
	r := newRig(t, rigOptions{auth: func(c *Config) { store.Store = c.Store; c.Store = store }})
	ctx := context.Background()
	id, tok := r.identity(t, "alice")
	r.clock.Advance(3 * time.Second) // past CacheTTL: the next Verify reads the store

	// That Verify reads "not revoked"; the user logs out right then, before
	// it caches what it read.
	var loggedOut atomic.Bool
	store.then = func() {
		loggedOut.Store(true)
		if err := r.svc.Logout(ctx, id); err != nil {
			t.Error(err)
		}
	}
	if _, err := r.svc.Verify(ctx, tok); err != nil {
		t.Logf("the racing Verify itself: %v", err) // either answer is fine for the one in flight
	}
	if !loggedOut.Load() {
		t.Fatal("the logout never ran inside the Verify")
	}
	_, err := r.svc.Verify(ctx, tok)
	wantCode(t, err, CodeUnauthorized)
}

func TestARevocationTheStoreLosesIsStillHonouredWhereItWasSeen(t *testing.T) {
	r := newRig(t, rigOptions{auth: func(c *Config) { c.Caches = NewCaches(4) }})
	ctx := context.Background()
	tok := r.logoutThenLoseTheRevocation(t, "alice")
	// The cache moves on: the tombstone is evicted.
	for range 8 {
		r.identity(t, "bob")
	}
	r.clock.Advance(3 * time.Second)
	_, err := r.svc.Verify(ctx, tok)
	wantCode(t, err, CodeUnauthorized)
}

func TestFailOpenServesOnlyTokensThisInstanceHeldAsValid(t *testing.T) {
	r := newRig(t, rigOptions{auth: func(c *Config) { c.FailOpen = true }})
	ctx := context.Background()
	_, held := r.identity(t, "alice")
	loggedOut, revoked := r.identity(t, "bob")
	if err := r.svc.Logout(ctx, loggedOut); err != nil {
		t.Fatal(err)
	}
	unseen := r.login(t, "carol").Token // issued, never verified here

	r.store.Fail(errors.New("store down"))
	r.clock.Advance(3 * time.Second) // past CacheTTL: every token asks the store
	for _, tc := range []struct {
		name, token, want string
	}{
		{"a token held as valid", held, ""},
		{"a token logged out before the outage", revoked, CodeUnauthorized},
		{"a token never seen here", unseen, CodeStoreUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := r.svc.Verify(ctx, tc.token)
			if tc.want == "" {
				if err != nil || id.OpenID == "" {
					t.Fatalf("Verify = %+v, %v; want the held identity", id, err)
				}
				return
			}
			wantCode(t, err, tc.want)
		})
	}
}

func TestARevocationTheStoreLosesIsStillHonouredAfterAReloadSharingTheCaches(t *testing.T) {
	caches := NewCaches(0)
	var cfg Config
	r := newRig(t, rigOptions{auth: func(c *Config) { c.Caches = caches; cfg = *c }})
	ctx := context.Background()
	tok := r.logoutThenLoseTheRevocation(t, "alice")
	reloaded, err := New(cfg) // what a config reload builds, over the same caches
	if err != nil {
		t.Fatal(err)
	}
	_, err = reloaded.Verify(ctx, tok)
	wantCode(t, err, CodeUnauthorized)
}

// logoutThenLoseTheRevocation logs user in and out, then deletes the
// revocation from the store, as an evicting Redis or a flush would. It
// returns the logged-out token.
func (r *rig) logoutThenLoseTheRevocation(t *testing.T, user string) string {
	t.Helper()
	ctx := context.Background()
	id, tok := r.identity(t, user)
	if err := r.svc.Logout(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := r.store.Delete(ctx, r.svc.revokedKey(id.TokenID)); err != nil {
		t.Fatal(err)
	}
	return tok
}
