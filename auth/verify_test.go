package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestARepeatedTokenIsAnsweredFromTheCacheWithoutTouchingTheStore(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	_, tok := r.identity(t, "alice")

	before := r.store.Calls()
	for range 3 {
		if _, err := r.svc.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.store.Calls() - before; n != 0 {
		t.Fatalf("three cached verifications read the store %d times, want 0", n)
	}
	r.clock.Advance(2 * time.Second) // CacheTTL's default
	if _, err := r.svc.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if n := r.store.Calls() - before; n == 0 {
		t.Fatal("after CacheTTL the store was not read again")
	}
}

// Changes made in the store by another instance are seen once CacheTTL has
// passed, and not before: that is the bargain the cache makes.
func TestChangesMadeElsewhereAreSeenAfterCacheTTL(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, r *rig, id Identity)
		seen   func(id Identity, err error) bool
	}{
		{"a revocation", func(t *testing.T, r *rig, id Identity) {
			if err := r.store.Set(context.Background(), r.svc.revokedKey(id.TokenID), []byte{1}, time.Hour); err != nil {
				t.Fatal(err)
			}
		}, func(_ Identity, err error) bool {
			var e *Error
			return errors.As(err, &e) && e.Code == CodeUnauthorized
		}},
		{"a phone binding", func(t *testing.T, r *rig, id Identity) {
			p := &Phone{PhoneNumber: "13800138000", PurePhoneNumber: "13800138000", CountryCode: "86"}
			if _, err := r.svc.updateUser(context.Background(), id.OpenID, func(u *user) { *u = user{Phone: p} }); err != nil {
				t.Fatal(err)
			}
		}, func(id Identity, err error) bool {
			return err == nil && id.Phone != nil && id.Phone.PhoneNumber == "13800138000"
		}},
		{"a unionid", func(t *testing.T, r *rig, id Identity) {
			if _, err := r.svc.updateUser(context.Background(), id.OpenID, func(u *user) { *u = user{UnionID: "oUnion"} }); err != nil {
				t.Fatal(err)
			}
		}, func(id Identity, err error) bool {
			return err == nil && id.UnionID == "oUnion"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{})
			ctx := context.Background()
			id, tok := r.identity(t, "alice")
			tc.change(t, r, id)

			r.clock.Advance(time.Second)
			got, err := r.svc.Verify(ctx, tok)
			if tc.seen(got, err) {
				t.Fatal("seen within CacheTTL: the cache was not used")
			}
			if err != nil {
				t.Fatalf("within CacheTTL: %v", err)
			}
			r.clock.Advance(time.Second + time.Millisecond)
			if got, err := r.svc.Verify(ctx, tok); !tc.seen(got, err) {
				t.Fatalf("not seen after CacheTTL: %+v, %v", got, err)
			}
		})
	}
}

func TestANegativeCacheTTLReadsTheStoreOnEveryRequest(t *testing.T) {
	r := newRig(t, rigOptions{auth: func(c *Config) { c.CacheTTL = -1 }})
	ctx := context.Background()
	id, tok := r.identity(t, "alice")
	if err := r.store.Set(ctx, r.svc.revokedKey(id.TokenID), []byte{1}, time.Hour); err != nil {
		t.Fatal(err)
	}
	_, err := r.svc.Verify(ctx, tok)
	wantCode(t, err, CodeUnauthorized)
}

func TestChangesMadeThroughThisServiceAreSeenAtOnce(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	id, tok := r.identity(t, "alice")

	if _, err := r.svc.PhoneByCode(ctx, id, r.mock.PhoneCode("alice", "13800138000")); err != nil {
		t.Fatal(err)
	}
	got, err := r.svc.Verify(ctx, tok)
	if err != nil || got.Phone == nil || got.Phone.PhoneNumber != "13800138000" {
		t.Fatalf("right after binding: %+v, %v; want the phone", got, err)
	}

	if err := r.svc.Logout(ctx, got); err != nil {
		t.Fatal(err)
	}
	_, err = r.svc.Verify(ctx, tok)
	wantCode(t, err, CodeUnauthorized)
	r.clock.Advance(time.Hour)
	_, err = r.svc.Verify(ctx, tok)
	wantCode(t, err, CodeUnauthorized)
}

func TestRefusedTokensNeverEnterTheCache(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	_, tok := r.identity(t, "alice")
	cached := func() int {
		r.svc.cache.mu.RLock()
		defer r.svc.cache.mu.RUnlock()
		return len(r.svc.cache.entries)
	}
	before := cached()
	parts := strings.Split(tok, ".")
	sig := []byte(parts[2])
	sig[0] ^= 1
	tests := []struct{ name, raw string }{
		{"empty", ""},
		{"not a JWS", "not.a.jwt"},
		{"a bad signature", parts[0] + "." + parts[1] + "." + string(sig)},
		{"no signature", parts[0] + "." + parts[1] + "."},
		{"longer than token.MaxSize", tok + strings.Repeat("A", 5000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.svc.Verify(ctx, tc.raw)
			wantCode(t, err, CodeUnauthorized)
		})
	}
	if n := cached(); n != before {
		t.Fatalf("the cache grew from %d to %d entries on refused tokens", before, n)
	}
}

func TestACachedTokenStillExpires(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	_, tok := r.identity(t, "alice")
	r.clock.Advance(2*time.Hour - time.Minute)
	if _, err := r.svc.Verify(ctx, tok); err != nil {
		t.Fatalf("a minute before expiry: %v", err)
	}
	r.clock.Advance(time.Minute + 31*time.Second) // past exp and the 30s leeway
	_, err := r.svc.Verify(ctx, tok)
	wantCode(t, err, CodeUnauthorized)
}

func TestARefusedTokenIsRefusedFromMemoryUntilRejectedTTLPasses(t *testing.T) {
	r := newRig(t, rigOptions{})
	// A token whose nbf lies 35 s ahead: refused now (leeway 30 s), valid 6 s later.
	r.clock.Advance(35 * time.Second)
	tok := r.login(t, "alice").Token
	r.clock.Advance(-35 * time.Second)
	ctx := context.Background()

	_, err := r.svc.Verify(ctx, tok)
	wantCode(t, err, CodeUnauthorized)
	r.clock.Advance(6 * time.Second)
	// The signature would verify now; the refusal is remembered instead.
	_, err = r.svc.Verify(ctx, tok)
	wantCode(t, err, CodeUnauthorized)
	r.clock.Advance(rejectedTTL)
	if _, err := r.svc.Verify(ctx, tok); err != nil {
		t.Fatalf("after rejectedTTL the token is checked again and is valid: %v", err)
	}
}

func TestTheRefusedTokenCacheNeverOutgrowsItsBound(t *testing.T) {
	c := &rejectedCache{max: 100, seen: map[[32]byte]time.Time{}}
	now := time.Now()
	for i := range 1000 {
		c.add([32]byte{byte(i), byte(i >> 8)}, now)
		if len(c.seen) > c.max {
			t.Fatalf("%d entries after %d adds, max %d", len(c.seen), i+1, c.max)
		}
	}
	if !c.has([32]byte{byte(999 % 256), byte(999 >> 8)}, now) {
		t.Fatal("the newest refusal is forgotten")
	}
}
