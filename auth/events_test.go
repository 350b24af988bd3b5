package auth

import (
	"context"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/faultstore"
)

// bus delivers every published event to each instance's caches, as Redis
// pub/sub would.
type bus struct{ instances []*Caches }

func (b *bus) Publish(_ context.Context, _ string, msg []byte) error {
	for _, c := range b.instances {
		c.Apply(msg)
	}
	return nil
}

// cluster is two Services, a and b, on one store, each with caches of its
// own, joined by a bus with events flowing.
type cluster struct {
	*rig
	a, b *Service
	read *afterRead // acts right after a store read of either
}

func newCluster(t *testing.T, cacheTTL time.Duration) *cluster {
	t.Helper()
	events, read := &bus{}, &afterRead{}
	var cfg Config
	r := newRig(t, rigOptions{auth: func(c *Config) {
		read.Store = c.Store
		c.Store, c.CacheTTL, c.Events, c.Caches = read, cacheTTL, events, NewCaches(0)
		cfg = *c
	}})
	cfg.Caches = NewCaches(0)
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	events.instances = []*Caches{r.svc.caches, b.caches}
	r.svc.caches.SetLive(true)
	b.caches.SetLive(true)
	return &cluster{rig: r, a: r.svc, b: b, read: read}
}

func TestWhileEventsFlowAVerifiedTokenCostsTheStoreNothingUntilItExpires(t *testing.T) {
	c := newCluster(t, 2*time.Second)
	ctx := context.Background()
	_, tok := c.identity(t, "alice")
	before := c.store.Calls()
	for range 100 {
		c.clock.Advance(time.Minute) // far past CacheTTL, still before the token's 2h
		if _, err := c.a.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.store.Calls() - before; n != 0 {
		t.Fatalf("100 verifications over 100 minutes cost %d store calls, want 0", n)
	}
	c.clock.Advance(time.Hour)
	_, err := c.a.Verify(ctx, tok)
	wantCode(t, err, CodeUnauthorized)
}

func TestTheFirstSightOfATokenCostsOneStoreRoundTrip(t *testing.T) {
	c := newCluster(t, 2*time.Second)
	ctx := context.Background()
	_, tok := c.identity(t, "alice") // a verifies it, which loads the keys a and b share
	before, reads := c.store.Calls(), c.store.Calls(faultstore.GetMulti)
	if _, err := c.b.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if all, multi := c.store.Calls()-before, c.store.Calls(faultstore.GetMulti)-reads; all != 1 || multi != 1 {
		t.Fatalf("b's first sight of the token: %d store calls (%d GetMulti), want 1 GetMulti", all, multi)
	}
}

func TestALogoutOnOneInstanceIsRefusedOnTheOtherAtOnceWhateverTheCacheTTL(t *testing.T) {
	c := newCluster(t, time.Hour)
	ctx := context.Background()
	id, tok := c.identity(t, "alice")
	if _, err := c.b.Verify(ctx, tok); err != nil { // b holds the token
		t.Fatal(err)
	}
	if err := c.a.Logout(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err := c.b.Verify(ctx, tok)
	wantCode(t, err, CodeUnauthorized)
}

func TestAPhoneBoundOnOneInstanceIsSeenOnTheOtherAtOnce(t *testing.T) {
	c := newCluster(t, time.Hour)
	ctx := context.Background()
	id, tok := c.identity(t, "alice")
	if got, _ := c.b.Verify(ctx, tok); got.Phone != nil {
		t.Fatal("a phone before binding one")
	}
	if _, err := c.a.PhoneByCode(ctx, id, c.mock.PhoneCode("alice", "13800138000")); err != nil {
		t.Fatal(err)
	}
	got, err := c.b.Verify(ctx, tok)
	if err != nil || got.Phone == nil || got.Phone.PhoneNumber != "13800138000" {
		t.Fatalf("b after the binding: %+v, %v", got.Phone, err)
	}
}

func TestAnEventArrivingDuringAStoreReadIsNotLost(t *testing.T) {
	c := newCluster(t, time.Hour)
	ctx := context.Background()
	id, tok := c.identity(t, "alice")
	// b reads the user's record (no phone); a binds a phone before b caches
	// what it read.
	c.read.then = func() {
		if _, err := c.a.PhoneByCode(ctx, id, c.mock.PhoneCode("alice", "13800138000")); err != nil {
			t.Error(err)
		}
	}
	c.b.Verify(ctx, tok)
	if c.read.then != nil {
		t.Fatal("b did not read the store")
	}
	got, err := c.b.Verify(ctx, tok)
	if err != nil || got.Phone == nil {
		t.Fatalf("b after a binding during its read: %+v, %v", got.Phone, err)
	}
}

func TestWhileEventsAreDownCacheTTLAppliesAndTheirReturnDropsWhatWasCached(t *testing.T) {
	c := newCluster(t, 2*time.Second)
	ctx := context.Background()
	_, tok := c.identity(t, "alice")
	c.a.caches.SetLive(false)
	reads := c.store.Calls(faultstore.GetMulti)
	c.clock.Advance(3 * time.Second)
	c.a.Verify(ctx, tok)
	if n := c.store.Calls(faultstore.GetMulti) - reads; n != 1 {
		t.Fatalf("past CacheTTL with events down: %d reads, want 1", n)
	}
	c.a.caches.SetLive(true)
	if _, held := c.a.cache.get(tokenKey(tok)); held {
		t.Fatal("the cache kept its entries when events came back")
	}
}
