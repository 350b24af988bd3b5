package token

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

const (
	// missTTL is how long a verifier goes without re-reading an epoch's keys
	// after an unknown kid, so that a flood of forged kids costs one store
	// read per epoch per missTTL.
	missTTL = time.Second
	// checkEvery is how often a Keyring checks that the store still names
	// the key it signs with (one GET), so that a store that lost its data is
	// noticed within seconds.
	checkEvery = 5 * time.Second
	// loadTimeout bounds a store round trip shared by many callers: it runs
	// detached from the caller that started it, so that one client hanging
	// up does not fail the others.
	loadTimeout = 10 * time.Second
	// keepKeys bounds how many keys are published for one epoch. One is the
	// rule; each time the store loses its data while instances hold
	// different keys adds one or two.
	keepKeys = 8
	// thumbLen is the length of a base64url SHA-256 thumbprint.
	thumbLen = 43
)

// KeyStore keeps generated keys so that every instance sharing it signs and
// verifies with the same keys. session.Store satisfies it; a Get of an absent
// key must return an error wrapping session.ErrNotFound.
type KeyStore interface {
	Get(ctx context.Context, key string) ([]byte, error)
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	Push(ctx context.Context, key string, value []byte, keep int, ttl time.Duration) error
	List(ctx context.Context, key string) ([][]byte, error)
}

// KeyringConfig configures a Keyring.
type KeyringConfig struct {
	// Store holds the keys, shared by every instance that signs or verifies
	// this app's tokens. It holds private keys, so it must be as private as
	// the AppSecret. Required.
	Store KeyStore
	// KeyPrefix is put before every store key: epoch e's signing key
	// (e = floor(now / RotateEvery)) is a private JWK at KeyPrefix +
	// "signing-key:" + e, and the public keys that verify the epoch's tokens
	// are a list of public JWKs at KeyPrefix + "public-keys:" + e.
	KeyPrefix string
	// TTL is the longest lifetime of the tokens these keys sign: every
	// Manager using the Keyring must have a TTL no longer than this. Keys are
	// kept, in the store and in memory, until such tokens have expired.
	// Required, positive.
	TTL time.Duration
	// RotateEvery is how often a new key starts signing. Default 24h.
	RotateEvery time.Duration
	// Leeway is the clock difference tolerated between instances: a token
	// signed with the next epoch's key by a clock up to Leeway ahead is
	// still verified. Default 30s.
	Leeway time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Keyring holds the generated Ed25519 keys an instance knows, shared with
// other instances through a KeyStore; Managers take one in Config.Keyring.
// It is meant to outlive Managers (in Caddy, one per store, KeyPrefix and TTL
// in a caddy.UsagePool across config reloads), so that what an instance knows
// of keys survives a reload even when the store has lost them. It is safe for
// concurrent use; Close stops its background check.
//
// Each epoch has one signing key, chosen by SetNX on the epoch's store key,
// and a list of every key published for it. An instance verifies every key
// on that list, so that after the store loses its data the keys instances
// already held stay valid: once every few seconds a Keyring checks that the
// store still names its signing key, puts it back if the store has lost it,
// and otherwise adopts the one the store names; either way it publishes the
// keys it holds for the tokens they signed.
type Keyring struct {
	store  KeyStore
	prefix string
	now    func() time.Time
	every  time.Duration
	ttl    time.Duration
	leeway time.Duration
	keyTTL time.Duration // how long a key stays in the store

	loads singleflight.Group // one store round trip per question, however many callers wait

	// known maps kid → key for every key of the window. It is replaced, never
	// changed, so that Verify reads it without a lock.
	known atomic.Pointer[map[string]*signingKey]

	mu          sync.Mutex
	epochs      map[int64]*epochKeys
	lastCheck   time.Time // when the store was last asked which key signs
	unpublished bool      // publishHeld failed part-way: the next check retries it

	stop      context.CancelFunc // nil without a background check
	done      chan struct{}
	closeOnce sync.Once
}

// epochKeys is what a Keyring knows of one epoch.
type epochKeys struct {
	keys   []*signingKey // every key known to verify the epoch's tokens
	signer *signingKey   // the key this instance signs with; nil until it signs
	readAt time.Time     // when the epoch's keys were last read; zero: never
}

// NewKeyring checks cfg and returns a Keyring that checks its signing key in
// the store every few seconds until Close. It does not touch the store: the
// first Issue or Verify does.
func NewKeyring(cfg KeyringConfig) (*Keyring, error) {
	k, err := newKeyring(cfg)
	if err != nil {
		return nil, err
	}
	k.start(checkEvery)
	return k, nil
}

// newKeyring is NewKeyring without the background check: a Manager given a
// Store builds one, and has nothing to stop it with.
func newKeyring(cfg KeyringConfig) (*Keyring, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("token: keyring: Store is required")
	case cfg.TTL <= 0:
		return nil, fmt.Errorf("token: keyring: TTL must be positive, got %s", cfg.TTL)
	case cfg.RotateEvery < 0 || cfg.Leeway < 0:
		return nil, fmt.Errorf("token: keyring: RotateEvery (%s) and Leeway (%s) must not be negative", cfg.RotateEvery, cfg.Leeway)
	}
	if cfg.RotateEvery == 0 {
		cfg.RotateEvery = 24 * time.Hour
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	k := &Keyring{
		store:  cfg.Store,
		prefix: cfg.KeyPrefix,
		now:    cfg.Now,
		every:  cfg.RotateEvery,
		ttl:    cfg.TTL,
		leeway: cfg.Leeway,
		// Epoch e's key is stored at the earliest Leeway before e starts (by
		// a clock running ahead) and signs until e ends; its last token
		// expires at most TTL + 1s later (exp is rounded up to a second) and
		// is accepted until then by a clock up to Leeway behind: RotateEvery
		// + TTL + 1s + 2*Leeway. One more epoch is kept as margin.
		keyTTL: 2*cfg.RotateEvery + cfg.TTL + 2*cfg.Leeway + time.Second,
		epochs: make(map[int64]*epochKeys),
	}
	k.known.Store(&map[string]*signingKey{})
	return k, nil
}

// start runs the check every interval until Close.
func (k *Keyring) start(every time.Duration) {
	ctx, stop := context.WithCancel(context.Background())
	k.stop, k.done = stop, make(chan struct{})
	go func() {
		defer close(k.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				select {
				case <-k.startCheck(ctx):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
}

// Close stops the background check and waits for it to return; a store
// round trip it had started may finish on its own, within a few seconds. The
// Keyring stays usable (it then checks only when it signs). Close is
// idempotent and always returns nil.
func (k *Keyring) Close() error {
	k.closeOnce.Do(func() {
		if k.stop != nil {
			k.stop()
			<-k.done
		}
	})
	return nil
}

// epoch is the rotation period t falls in (floor division, so it is also
// right before 1970).
func (k *Keyring) epoch(t time.Time) int64 {
	n, d := t.UnixNano(), int64(k.every)
	e := n / d
	if n%d < 0 {
		e--
	}
	return e
}

// window is the range of epochs whose keys may have signed a token that is
// valid now. A token signed with epoch e's key was issued before e ended (by
// the issuer's clock) and expires at most TTL + 1s later, exp being absolute
// and rounded up to a second. The upper end tolerates another instance's
// clock running up to Leeway ahead across an epoch boundary; anything newer
// is forged.
func (k *Keyring) window(now time.Time) (lo, hi int64) {
	return k.epoch(now.Add(-k.ttl - time.Second)), k.epoch(now.Add(k.leeway))
}

// signer returns the key that signs tokens issued at now: the one held in
// memory (and, every checkEvery, a check of the store started in the
// background), or the one the store names, created if there is none.
func (k *Keyring) signer(ctx context.Context, now time.Time) (*signingKey, error) {
	e := k.epoch(now)
	if key := k.signerOf(e); key != nil {
		if k.claimCheck() {
			k.startCheck(ctx) // not waited for: this token is signed with the key in hand
		}
		return key, nil
	}
	v, err := wait(ctx, k.loads.DoChan("sign:"+strconv.FormatInt(e, 10), func() (any, error) {
		ctx, cancel := detached(ctx)
		defer cancel()
		if key := k.signerOf(e); key != nil {
			return key, nil // loaded by a caller that finished just before
		}
		return k.loadSigner(ctx, e)
	}))
	if err != nil {
		return nil, err
	}
	return v.(*signingKey), nil
}

func (k *Keyring) signerOf(e int64) *signingKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ek := k.epochs[e]; ek != nil {
		return ek.signer
	}
	return nil
}

// verifier returns the key named kid. A kid of the window that is not known
// re-reads its epoch's keys, at most once per missTTL; everything else is
// refused without touching the store.
func (k *Keyring) verifier(ctx context.Context, kid string) (*signingKey, error) {
	e, ok := kidEpoch(kid)
	if !ok {
		return nil, ErrUnknownKey
	}
	if lo, hi := k.window(k.now()); e < lo || e > hi {
		return nil, ErrUnknownKey // never touch the store for attacker-chosen epochs
	}
	if key := (*k.known.Load())[kid]; key != nil {
		return key, nil
	}
	if err := k.refresh(ctx, e, missTTL); err != nil {
		return nil, err
	}
	if key := (*k.known.Load())[kid]; key != nil {
		return key, nil
	}
	return nil, ErrUnknownKey
}

// kidEpoch returns the epoch a generated kid names. Only the canonical
// spelling counts ("5.", not "+5." or "05."), followed by a thumbprint, so
// that malformed kids are refused before any store read. It runs on every
// Verify, so it parses in one pass.
func kidEpoch(kid string) (int64, bool) {
	dot := strings.IndexByte(kid, '.')
	if dot < 0 || len(kid)-dot-1 != thumbLen {
		return 0, false
	}
	digits, neg := kid[:dot], false
	if len(digits) > 0 && digits[0] == '-' {
		digits, neg = digits[1:], true
	}
	if digits == "" || (digits[0] == '0' && (len(digits) > 1 || neg)) {
		return 0, false // "", "-", "05", "-0"
	}
	var e int64
	for i := 0; i < len(digits); i++ {
		d := int64(digits[i]) - '0'
		if d < 0 || d > 9 || e > (math.MaxInt64-d)/10 {
			return 0, false // not a digit, or out of range
		}
		e = e*10 + d
	}
	if neg {
		e = -e
	}
	return e, true
}

// refresh re-reads epoch e's keys unless they were read less than maxAge ago.
func (k *Keyring) refresh(ctx context.Context, e int64, maxAge time.Duration) error {
	if !k.stale(e, maxAge) {
		return nil
	}
	_, err := wait(ctx, k.loads.DoChan("read:"+strconv.FormatInt(e, 10), func() (any, error) {
		ctx, cancel := detached(ctx)
		defer cancel()
		// Checked again: a caller that found the keys stale just before
		// another caller's read finished must not read the store again.
		if !k.stale(e, maxAge) {
			return nil, nil
		}
		return nil, k.readEpoch(ctx, e)
	}))
	return err
}

func (k *Keyring) stale(e int64, maxAge time.Duration) bool {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	ek := k.epochs[e]
	return ek == nil || ek.readAt.IsZero() || !now.Before(ek.readAt.Add(maxAge))
}

func (k *Keyring) neverRead(e int64) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	ek := k.epochs[e]
	return ek == nil || ek.readAt.IsZero()
}

// public returns every key known for the window, the current signer first,
// after re-reading epochs not read for checkEvery. When the store cannot be
// read it answers from memory, and fails only when memory holds nothing.
func (k *Keyring) public(ctx context.Context) ([]*signingKey, error) {
	now := k.now()
	// The current signer, created if need be, so that a JWKS fetched before
	// the first login of an epoch already lists the key that will sign.
	cur, err := k.signer(ctx, now)
	if err == nil {
		lo, hi := k.window(now)
		for e := hi; e >= lo && err == nil; e-- {
			err = k.refresh(ctx, e, checkEvery) // the first failure says the store is down: stop asking
		}
	}
	keys := k.inWindow(now)
	if len(keys) == 0 && err != nil {
		return nil, err
	}
	if cur != nil {
		if i := slices.IndexFunc(keys, func(key *signingKey) bool { return key.kid == cur.kid }); i > 0 {
			keys = slices.Insert(slices.Delete(keys, i, i+1), 0, cur)
		}
	}
	return keys, nil
}

// inWindow returns the keys known for the window now, newest epoch first.
func (k *Keyring) inWindow(now time.Time) []*signingKey {
	lo, hi := k.window(now)
	type entry struct {
		e   int64
		key *signingKey
	}
	var all []entry
	k.mu.Lock()
	for e, ek := range k.epochs {
		if e >= lo && e <= hi {
			for _, key := range ek.keys {
				all = append(all, entry{e, key})
			}
		}
	}
	k.mu.Unlock()
	slices.SortFunc(all, func(a, b entry) int {
		return cmp.Or(cmp.Compare(b.e, a.e), strings.Compare(a.key.kid, b.key.kid))
	})
	keys := make([]*signingKey, len(all))
	for i, x := range all {
		keys[i] = x.key
	}
	return keys
}

// learn adds keys to what is known of epoch e, with readAt when they are the
// result of reading the epoch (zero otherwise).
func (k *Keyring) learn(e int64, keys []*signingKey, readAt time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ek := k.epochLocked(e)
	if ek == nil {
		return
	}
	changed := false
	for _, key := range keys {
		_, added := ek.add(key)
		changed = changed || added
	}
	if !readAt.IsZero() {
		ek.readAt = readAt
	}
	if changed {
		k.rebuildKnownLocked()
	}
}

// setSigner makes key the one this instance signs with in epoch e.
func (k *Keyring) setSigner(e int64, key *signingKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ek := k.epochLocked(e)
	if ek == nil {
		return
	}
	held, added := ek.add(key)
	if added {
		k.rebuildKnownLocked()
	}
	ek.signer = held
}

// epochLocked returns the state of epoch e, created if need be, after
// forgetting epochs that have left the window; nil when e itself has left
// it. The caller holds k.mu.
func (k *Keyring) epochLocked(e int64) *epochKeys {
	lo, _ := k.window(k.now())
	pruned := false
	for old := range k.epochs {
		if old < lo {
			delete(k.epochs, old)
			pruned = true
		}
	}
	if pruned {
		k.rebuildKnownLocked()
	}
	if e < lo {
		return nil
	}
	ek := k.epochs[e]
	if ek == nil {
		ek = &epochKeys{}
		k.epochs[e] = ek
	}
	return ek
}

// add records key, replacing a public-only copy by a private one, and
// returns the copy held and whether anything changed. Keys learnt from the
// store are bounded by what a list holds; a private key (one this instance
// signs with) is always kept.
func (ek *epochKeys) add(key *signingKey) (held *signingKey, changed bool) {
	for i, have := range ek.keys {
		if have.kid == key.kid {
			if have.priv == nil && key.priv != nil {
				ek.keys[i] = key
				return key, true
			}
			return have, false
		}
	}
	if key.priv == nil && len(ek.keys) > keepKeys {
		return key, false
	}
	ek.keys = append(ek.keys, key)
	return key, true
}

// rebuildKnownLocked rebuilds the kid → key map Verify reads. The caller holds
// k.mu.
func (k *Keyring) rebuildKnownLocked() {
	m := make(map[string]*signingKey)
	for _, ek := range k.epochs {
		for _, key := range ek.keys {
			m[key.kid] = key
		}
	}
	k.known.Store(&m)
}

// detached returns the context of a store round trip shared by many callers:
// it keeps ctx's values but not its cancellation, and ends after loadTimeout.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
}

// wait returns the result of a shared round trip, or stops waiting when ctx
// ends; the round trip goes on for the other callers.
func wait(ctx context.Context, ch <-chan singleflight.Result) (any, error) {
	select {
	case r := <-ch:
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the signing keys: %w", ctx.Err())
	}
}
