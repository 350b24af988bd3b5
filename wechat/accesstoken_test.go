package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/fakeclock"
	"github.com/wxauth/caddy-wxauth/internal/faultstore"
	"github.com/wxauth/caddy-wxauth/session"
)

// fakeFetcher hands out t1, t2, … valid for life, after delay; the first
// fail fetches fail.
type fakeFetcher struct {
	life  time.Duration
	delay time.Duration
	fail  int
	now   func() time.Time

	mu     sync.Mutex
	forces []bool
	at     []time.Time
}

var errFetch = errors.New("wechat said no")

func (f *fakeFetcher) fetch(ctx context.Context, force bool) (AccessToken, error) {
	time.Sleep(f.delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forces = append(f.forces, force)
	f.at = append(f.at, time.Now())
	n := len(f.forces)
	if n <= f.fail {
		return AccessToken{}, errFetch
	}
	now := time.Now
	if f.now != nil {
		now = f.now
	}
	life := f.life
	if life == 0 {
		life = 2 * time.Hour
	}
	return AccessToken{Token: fmt.Sprintf("t%d", n), Expiry: now().Add(life)}, nil
}

func (f *fakeFetcher) calls() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bool(nil), f.forces...)
}

func mustToken(t *testing.T, ts TokenSource) string {
	t.Helper()
	tok, err := ts.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestFetchAccessTokenPostsToStableToken(t *testing.T) {
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprintf("force_refresh=%v", force), func(t *testing.T) {
			var mu sync.Mutex
			var method, path, query, ctype string
			var body map[string]any
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				method, path, query, ctype = r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type")
				json.NewDecoder(r.Body).Decode(&body)
				reply(w, "application/json", `{"access_token":"AT","expires_in":7200}`)
			})
			before := time.Now()
			at, err := c.FetchAccessToken(context.Background(), force)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			want := map[string]any{"grant_type": "client_credential", "appid": testAppID, "secret": testSecret, "force_refresh": force}
			if method != http.MethodPost || path != "/cgi-bin/stable_token" || query != "" || ctype != "application/json" || !reflect.DeepEqual(body, want) {
				t.Errorf("sent %s %s?%s (%s) %v, want POST /cgi-bin/stable_token %v", method, path, query, ctype, body, want)
			}
			if at.Token != "AT" || at.Expiry.Before(before.Add(7200*time.Second)) || at.Expiry.After(time.Now().Add(7200*time.Second)) {
				t.Errorf("got %+v, want AT expiring in 7200s", at)
			}
		})
	}
}

func TestFetchAccessTokenRejectsIncompleteAnswers(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"no access_token", `{"expires_in":7200}`, "lacks access_token"},
		{"no expires_in", `{"access_token":"AT"}`, "lacks access_token"},
		{"an errcode", `{"errcode":40013,"errmsg":"invalid appid"}`, "errcode 40013"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { reply(w, "application/json", tt.body) })
			if _, err := c.FetchAccessToken(context.Background(), false); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestAClientUsesTheTokenSourceItIsGiven(t *testing.T) {
	f := &fakeWeChat{handle: func(w http.ResponseWriter, r *http.Request, token string, call int) {
		reply(w, "application/json", fmt.Sprintf(phoneAnswer, `"86"`))
	}}
	c := f.client(t)
	c.Tokens = NewSharedTokenSource(func(context.Context, bool) (AccessToken, error) {
		return AccessToken{Token: "shared", Expiry: time.Now().Add(time.Hour)}, nil
	}, nil, "k")
	if _, err := c.GetUserPhoneNumber(context.Background(), "c", ""); err != nil {
		t.Fatal(err)
	}
	fetches, seen, _ := f.state()
	if len(fetches) != 0 || seen[0].URL.Query().Get("access_token") != "shared" {
		t.Errorf("%d stable_token calls, token %q; want 0 and the shared one", len(fetches), seen[0].URL.Query().Get("access_token"))
	}
}

func TestTwoInstancesSharingAStoreFetchOnce(t *testing.T) {
	f := &fakeFetcher{delay: 30 * time.Millisecond}
	store := session.NewMemory()
	instances := []*SharedTokenSource{
		NewSharedTokenSource(f.fetch, store, "k"),
		NewSharedTokenSource(f.fetch, store, "k"),
	}
	for _, s := range instances {
		s.PollInterval = 5 * time.Millisecond
	}
	var wg sync.WaitGroup
	got := make([]string, 100)
	errs := make([]error, 100)
	for i := range 100 {
		wg.Go(func() { got[i], errs[i] = instances[i%2].Token(context.Background()) })
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i] != "t1" {
			t.Fatalf("caller %d got %q, %v; want t1", i, got[i], errs[i])
		}
	}
	if n := len(f.calls()); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

func TestTokensAreRefreshedALittleBeforeTheyExpire(t *testing.T) {
	tests := []struct {
		name  string
		life  time.Duration
		early time.Duration // min(5m, 10% of life)
	}{
		{"two hours, five minutes early", 2 * time.Hour, 5 * time.Minute},
		{"ten minutes, a tenth early", 10 * time.Minute, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := fakeclock.New(time.Now())
			start := clock.Now()
			f := &fakeFetcher{life: tt.life, now: clock.Now}
			s := NewSharedTokenSource(f.fetch, nil, "k")
			s.Now = clock.Now
			if tok := mustToken(t, s); tok != "t1" {
				t.Fatalf("got %q", tok)
			}
			clock.Set(start.Add(tt.life - tt.early - time.Second))
			if tok := mustToken(t, s); tok != "t1" || len(f.calls()) != 1 {
				t.Errorf("just before the margin: got %q after %d fetches, want t1 after 1", tok, len(f.calls()))
			}
			clock.Set(start.Add(tt.life - tt.early + time.Second))
			if tok := mustToken(t, s); tok != "t2" || len(f.calls()) != 2 {
				t.Errorf("inside the margin: got %q after %d fetches, want t2 after 2", tok, len(f.calls()))
			}
		})
	}
}

func TestAFreshTokenIsServedWithoutTouchingTheStore(t *testing.T) {
	store := faultstore.New(func() session.Store { return session.NewMemory() })
	s := NewSharedTokenSource((&fakeFetcher{}).fetch, store, "k")
	mustToken(t, s)
	before := store.Calls(faultstore.Get)
	for range 100 {
		mustToken(t, s)
	}
	if after := store.Calls(faultstore.Get); after != before {
		t.Errorf("%d store reads for 100 cached tokens, want 0", after-before)
	}
}

func TestInvalidateMakesTheNextTokenAForcedRefresh(t *testing.T) {
	f := &fakeFetcher{}
	store := session.NewMemory()
	s := NewSharedTokenSource(f.fetch, store, "k")
	bad := mustToken(t, s)
	if err := s.Invalidate(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	if tok := mustToken(t, s); tok != "t2" {
		t.Errorf("got %q, want t2", tok)
	}
	if want := []bool{false, true}; !reflect.DeepEqual(f.calls(), want) {
		t.Errorf("force flags %v, want %v", f.calls(), want)
	}
	if v, _ := store.Get(context.Background(), "k"); !strings.Contains(string(v), `"t2"`) {
		t.Errorf("the store holds %s, want t2", v)
	}
}

func TestInvalidateWithAStaleTokenDoesNotRefetch(t *testing.T) {
	f := &fakeFetcher{}
	s := NewSharedTokenSource(f.fetch, nil, "k")
	mustToken(t, s)
	if err := s.Invalidate(context.Background(), "t0"); err != nil {
		t.Fatal(err)
	}
	if tok := mustToken(t, s); tok != "t1" || len(f.calls()) != 1 {
		t.Errorf("got %q after %d fetches, want t1 after 1", tok, len(f.calls()))
	}
}

func TestAnInstanceAdoptsTheTokenAnotherInstanceAlreadyRefreshed(t *testing.T) {
	f := &fakeFetcher{}
	store := session.NewMemory()
	a, b := NewSharedTokenSource(f.fetch, store, "k"), NewSharedTokenSource(f.fetch, store, "k")
	ctx := context.Background()
	if mustToken(t, a) != "t1" || mustToken(t, b) != "t1" {
		t.Fatal("the instances do not share t1")
	}
	if err := a.Invalidate(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if tok := mustToken(t, a); tok != "t2" {
		t.Fatalf("a got %q, want t2", tok)
	}
	// b still serves t1 until WeChat refuses it; then it finds a's t2.
	if err := b.Invalidate(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if tok := mustToken(t, b); tok != "t2" || len(f.calls()) != 2 {
		t.Errorf("b got %q after %d fetches, want t2 after 2", tok, len(f.calls()))
	}
}

func TestACrashedLockHolderHoldsOthersUpOnlyUntilItsLockExpires(t *testing.T) {
	const ttl = 300 * time.Millisecond
	f := &fakeFetcher{}
	store := session.NewMemory()
	locked := time.Now()
	// The lock of an instance that died mid-fetch: no token will follow.
	if ok, _ := store.SetNX(context.Background(), "k:lock", []byte("1"), ttl); !ok {
		t.Fatal("could not plant the lock")
	}
	a, b := NewSharedTokenSource(f.fetch, store, "k"), NewSharedTokenSource(f.fetch, store, "k")
	for _, s := range []*SharedTokenSource{a, b} {
		s.LockTTL, s.PollInterval = ttl, 10*time.Millisecond
	}
	var wg sync.WaitGroup
	got := make([]string, 20)
	errs := make([]error, 20)
	for i := range 20 {
		wg.Go(func() { got[i], errs[i] = []*SharedTokenSource{a, b}[i%2].Token(context.Background()) })
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i] != "t1" {
			t.Fatalf("caller %d got %q, %v; want t1", i, got[i], errs[i])
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.at) != 1 {
		t.Fatalf("%d fetches, want 1", len(f.at))
	}
	if waited := f.at[0].Sub(locked); waited < ttl {
		t.Errorf("fetched %v after the lock was taken, want after its %v TTL", waited, ttl)
	}
}

func TestWaitingForAnotherInstanceIsBounded(t *testing.T) {
	tests := []struct {
		name    string
		maxWait time.Duration
		ctxWait time.Duration
	}{
		{"by MaxWait", 100 * time.Millisecond, time.Minute},
		{"by the caller's context", time.Minute, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeFetcher{}
			store := session.NewMemory()
			store.SetNX(context.Background(), "k:lock", []byte("1"), time.Minute)
			s := NewSharedTokenSource(f.fetch, store, "k")
			s.MaxWait, s.PollInterval = tt.maxWait, 10*time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), tt.ctxWait)
			defer cancel()
			start := time.Now()
			_, err := s.Token(ctx)
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
				t.Errorf("got %v after %v, want a deadline error soon", err, time.Since(start))
			}
			if len(f.calls()) != 0 {
				t.Error("fetched while another instance held the lock")
			}
		})
	}
}

func TestStoreFailures(t *testing.T) {
	errStore := errors.New("store down")
	tests := []struct {
		name    string
		failing faultstore.Op
		wantErr bool
	}{
		{"a failing Get counts as no token cached", faultstore.Get, false},
		{"a failing SetNX is returned", faultstore.SetNX, true},
		{"a failing Set is returned", faultstore.Set, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := faultstore.New(func() session.Store { return session.NewMemory() })
			store.Fail(errStore, tt.failing)
			f := &fakeFetcher{}
			tok, err := NewSharedTokenSource(f.fetch, store, "k").Token(context.Background())
			if tt.wantErr {
				if !errors.Is(err, errStore) || !strings.Contains(err.Error(), "access_token") {
					t.Errorf("got %q, %v; want the store's error, wrapped", tok, err)
				}
				return
			}
			if err != nil || tok != "t1" {
				t.Errorf("got %q, %v; want t1", tok, err)
			}
		})
	}
}

func TestAFailedFetchReleasesTheLockForTheNextCaller(t *testing.T) {
	f := &fakeFetcher{fail: 1}
	s := NewSharedTokenSource(f.fetch, nil, "k")
	s.LockTTL = time.Minute
	if _, err := s.Token(context.Background()); !errors.Is(err, errFetch) {
		t.Fatalf("got %v, want the fetch error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if tok, err := s.Token(ctx); err != nil || tok != "t2" {
		t.Errorf("got %q, %v; want t2 without waiting out the lock", tok, err)
	}
}

func TestInvalidateKeepsATokenAnotherInstanceStoredAfterItsRead(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New(time.Now())
	f := &fakeFetcher{now: clock.Now}
	store := faultstore.Memory(clock.Now)
	a, b := NewSharedTokenSource(f.fetch, store, "k"), NewSharedTokenSource(f.fetch, store, "k")
	a.Now, b.Now = clock.Now, clock.Now
	if mustToken(t, a) != "t1" || mustToken(t, b) != "t1" {
		t.Fatal("the instances do not share t1")
	}
	// Between a's read of the store and its removal of t1, b sees t1 refused
	// and refreshes. Hooked on both ways of removing, so the test shows the
	// race whichever the invalidation uses.
	var fired atomic.Bool
	between := func(ctx context.Context) error {
		if !fired.CompareAndSwap(false, true) {
			return nil
		}
		if err := b.Invalidate(ctx, "t1"); err != nil {
			return err
		}
		_, err := b.Token(ctx)
		return err
	}
	store.Hook(faultstore.CompareAndDelete, between)
	store.Hook(faultstore.Delete, between)

	if err := a.Invalidate(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if !fired.Load() {
		t.Fatal("a's Invalidate never went to remove t1 from the store")
	}
	if v, _ := store.Get(ctx, "k"); !strings.Contains(string(v), `"t2"`) {
		t.Fatalf("the store holds %q after a's Invalidate, want b's fresh t2", v)
	}
	if tok := mustToken(t, a); tok != "t2" {
		t.Errorf("a got %q, want b's t2", tok)
	}
	if want := []bool{false, true}; !reflect.DeepEqual(f.calls(), want) {
		t.Fatalf("force flags %v, want %v (one forced refresh for the deployment)", f.calls(), want)
	}
	// a adopted t2, which replaced the refused t1: its next refresh is an
	// ordinary one.
	clock.Advance(2 * time.Hour)
	if tok := mustToken(t, a); tok != "t3" {
		t.Errorf("a got %q once t2 expired, want t3", tok)
	}
	if want := []bool{false, true, false}; !reflect.DeepEqual(f.calls(), want) {
		t.Errorf("force flags %v, want %v", f.calls(), want)
	}
}

func TestAFailingCompareAndDeleteIsReturnedByInvalidate(t *testing.T) {
	errStore := errors.New("store down")
	store := faultstore.New(func() session.Store { return session.NewMemory() })
	s := NewSharedTokenSource((&fakeFetcher{}).fetch, store, "k")
	bad := mustToken(t, s)
	store.Fail(errStore, faultstore.CompareAndDelete)
	if err := s.Invalidate(context.Background(), bad); !errors.Is(err, errStore) || !strings.Contains(err.Error(), "access_token") {
		t.Errorf("Invalidate = %v, want the store's error, wrapped", err)
	}
}

func TestAccessTokenReportsTheFetchedExpiry(t *testing.T) {
	const life = 7200 * time.Second
	ctx := context.Background()
	tests := []struct {
		name      string
		get       func(a, b *SharedTokenSource, clock *fakeclock.Clock) (AccessToken, error)
		wantToken string
		fetchedAt time.Duration // after the start; the expiry is life later
	}{
		{"fetched by this instance", func(a, _ *SharedTokenSource, _ *fakeclock.Clock) (AccessToken, error) {
			return a.AccessToken(ctx)
		}, "t1", 0},
		{"served from the local copy later", func(a, _ *SharedTokenSource, clock *fakeclock.Clock) (AccessToken, error) {
			a.AccessToken(ctx)
			clock.Advance(time.Hour)
			return a.AccessToken(ctx)
		}, "t1", 0},
		{"adopted from another instance through the store", func(a, b *SharedTokenSource, clock *fakeclock.Clock) (AccessToken, error) {
			a.AccessToken(ctx)
			clock.Advance(time.Hour)
			return b.AccessToken(ctx)
		}, "t1", 0},
		{"forced by ForceRefresh", func(a, _ *SharedTokenSource, clock *fakeclock.Clock) (AccessToken, error) {
			a.AccessToken(ctx)
			clock.Advance(time.Minute)
			return a.ForceRefresh(ctx)
		}, "t2", time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := fakeclock.New(time.Unix(1_700_000_000, 0))
			start := clock.Now()
			f := &fakeFetcher{life: life, now: clock.Now}
			store := faultstore.Memory(clock.Now)
			a, b := NewSharedTokenSource(f.fetch, store, "k"), NewSharedTokenSource(f.fetch, store, "k")
			a.Now, b.Now = clock.Now, clock.Now
			at, err := tt.get(a, b, clock)
			if err != nil {
				t.Fatal(err)
			}
			if want := start.Add(tt.fetchedAt + life); at.Token != tt.wantToken || !at.Expiry.Equal(want) {
				t.Errorf("got %s expiring %v, want %s expiring %v", at.Token, at.Expiry, tt.wantToken, want)
			}
		})
	}
}

func TestConcurrentForceRefreshesOnTwoInstancesMakeOneForcedFetch(t *testing.T) {
	ctx := context.Background()
	f := &fakeFetcher{delay: 30 * time.Millisecond}
	store := faultstore.New(func() session.Store { return session.NewMemory() })
	instances := []*SharedTokenSource{NewSharedTokenSource(f.fetch, store, "k"), NewSharedTokenSource(f.fetch, store, "k")}
	for _, s := range instances {
		s.PollInterval = 5 * time.Millisecond
		if tok := mustToken(t, s); tok != "t1" {
			t.Fatalf("got %q before the forced refreshes, want t1", tok)
		}
	}
	var wg sync.WaitGroup
	got := make([]AccessToken, 40)
	errs := make([]error, len(got))
	for i := range got {
		wg.Go(func() { got[i], errs[i] = instances[i%2].ForceRefresh(ctx) })
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i].Token != "t2" {
			t.Fatalf("caller %d got %q, %v; want the new t2", i, got[i].Token, errs[i])
		}
	}
	if want := []bool{false, true}; !reflect.DeepEqual(f.calls(), want) {
		t.Errorf("force flags %v, want %v: one forced fetch", f.calls(), want)
	}
	for i, s := range instances {
		if tok := mustToken(t, s); tok != "t2" {
			t.Errorf("instance %d serves %q afterwards, want t2", i, tok)
		}
	}
}

func TestForceRefreshFetchesAtMostOncePerInterval(t *testing.T) {
	tests := []struct {
		name       string
		interval   time.Duration // ForceInterval; 0 is the default 30s
		after      time.Duration // between the first ForceRefresh and the second
		other      bool          // the second on another instance, which still holds t1
		want       string
		wantForces []bool
	}{
		{"a second call within the interval answers the current token", 0, 30*time.Second - time.Millisecond, false, "t2", []bool{false, true}},
		{"a second call on another instance within the interval answers the current token, not its own copy", 0, 30*time.Second - time.Millisecond, true, "t2", []bool{false, true}},
		{"a second call once the interval has passed fetches again, forced", 0, 30 * time.Second, false, "t3", []bool{false, true, true}},
		{"a second call on another instance once the interval has passed fetches again, forced", 0, 30 * time.Second, true, "t3", []bool{false, true, true}},
		{"a shorter interval allows the next forced fetch sooner", 5 * time.Second, 5 * time.Second, true, "t3", []bool{false, true, true}},
		{"a longer interval holds it off longer", time.Minute, 59 * time.Second, true, "t2", []bool{false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clock := fakeclock.New(time.Unix(1_700_000_000, 0))
			f := &fakeFetcher{now: clock.Now}
			store := faultstore.Memory(clock.Now)
			a, b := NewSharedTokenSource(f.fetch, store, "k"), NewSharedTokenSource(f.fetch, store, "k")
			for _, s := range []*SharedTokenSource{a, b} {
				s.Now, s.ForceInterval = clock.Now, tt.interval
				if tok := mustToken(t, s); tok != "t1" {
					t.Fatalf("got %q before ForceRefresh, want t1", tok)
				}
			}
			if at, err := a.ForceRefresh(ctx); err != nil || at.Token != "t2" {
				t.Fatalf("first ForceRefresh = %q, %v; want t2", at.Token, err)
			}
			clock.Advance(tt.after)
			second := a
			if tt.other {
				second = b
			}
			at, err := second.ForceRefresh(ctx)
			if err != nil || at.Token != tt.want {
				t.Fatalf("second ForceRefresh = %q, %v; want %s", at.Token, err, tt.want)
			}
			if !reflect.DeepEqual(f.calls(), tt.wantForces) {
				t.Errorf("force flags %v, want %v", f.calls(), tt.wantForces)
			}
			if tok := mustToken(t, second); tok != tt.want {
				t.Errorf("Token afterwards = %q, want %s", tok, tt.want)
			}
		})
	}
}

func TestRefusalsReportedOverAndOverForceOneRefreshPerInterval(t *testing.T) {
	f := &fakeFetcher{}
	s := NewSharedTokenSource(f.fetch, session.NewMemory(), "k")
	for range 10 {
		tok := mustToken(t, s)
		if err := s.Invalidate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	mustToken(t, s)
	forced := 0
	for _, force := range f.calls() {
		if force {
			forced++
		}
	}
	if forced != 1 {
		t.Fatalf("10 refusals within the interval forced %d refreshes (%v), want 1", forced, f.calls())
	}
}
