package auth

import (
	"crypto/sha256"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
)

// Caches is what a Service remembers in this process: the tokens it
// verified (and tombstones of those logged out), the tokens it refused, and
// the revocations it made or saw. Kept across config reloads (one per
// account and store), a reload neither checks every token's signature again
// nor forgets a revocation the store has lost.
//
// On a store shared by several instances, Caches also applies the change
// events the others publish (see EventsChannel): while they flow (SetLive),
// a verified token's cached state holds until it expires or an event says
// otherwise, and costs the store nothing.
type Caches struct {
	identities *identityCache
	rejected   *rejectedCache
	revoked    *revocations
	live       atomic.Bool
	now        func() time.Time
}

// NewCaches returns empty caches whose verified-token cache holds up to size
// tokens (100000 when size is 0 or less).
func NewCaches(size int) *Caches {
	if size <= 0 {
		size = defaultCacheSize
	}
	return &Caches{
		identities: newIdentityCache(size),
		rejected:   &rejectedCache{max: rejectedSize, seen: make(map[[sha256.Size]byte]time.Time)},
		revoked:    &revocations{max: revocationsKept, until: make(map[string]time.Time)},
		now:        time.Now,
	}
}

// EventsChannel is the channel on which the Services of the accounts whose
// keys are under keyPrefix announce changes: one per account and store.
func EventsChannel(keyPrefix string) string { return keyPrefix + "events" }

// event is one change other instances must see: a token revoked (until its
// expiry) or a user's record changed.
type event struct {
	Type    string `json:"t"`
	TokenID string `json:"jti,omitempty"`
	Expiry  int64  `json:"exp,omitempty"`
	OpenID  string `json:"sub,omitempty"`
}

const (
	eventRevoke = "revoke"
	eventUser   = "user"
)

// Apply applies a change event received on EventsChannel. What it does not
// understand it ignores: a newer instance may send more kinds.
func (c *Caches) Apply(msg []byte) {
	var e event
	if json.Unmarshal(msg, &e) != nil {
		return
	}
	now := c.now()
	switch {
	case e.Type == eventRevoke && e.TokenID != "":
		// Held first, then the tombstone: a Verify caching the token
		// concurrently sees one or the other (see Service.refresh).
		c.revoked.add(e.TokenID, time.Unix(e.Expiry, 0), now)
		c.identities.revokeToken(e.TokenID)
	case e.Type == eventUser && e.OpenID != "":
		c.identities.userChanged(e.OpenID, now)
	}
}

// SetLive reports whether change events flow. Once they flow again after
// an outage, everything cached is dropped: events may have been missed.
// While they do not, cached state is re-read every CacheTTL.
func (c *Caches) SetLive(up bool) {
	if up && !c.live.Load() {
		c.identities.flush()
	}
	c.live.Store(up)
}

// Live reports whether change events flow.
func (c *Caches) Live() bool { return c.live.Load() }

// identityCache remembers verified tokens so the hot path skips the signature
// check and, for CacheTTL (or, while change events flow, until an event says
// otherwise), the store. Only tokens whose signature verified enter it, so
// forged tokens cannot grow it.
type identityCache struct {
	mu      sync.RWMutex
	max     int
	entries map[[sha256.Size]byte]*cachedIdentity
	// Indexes for change events: a user's tokens, and a token by its jti.
	byUser  map[string]map[[sha256.Size]byte]struct{}
	byToken map[string][sha256.Size]byte
	// changed is when an event last said a user's record changed, kept for
	// changedKept: a Verify that read the record before the event must not
	// cache what it read as current.
	changed map[string]time.Time
}

// changedKept bounds how long a user's change is remembered: longer than any
// store read takes.
const changedKept = time.Minute

type cachedIdentity struct {
	id      Identity
	checked time.Time // when revocation and phone were last read from the store
	stale   bool      // an event said the user's record changed since
}

func newIdentityCache(max int) *identityCache {
	return &identityCache{
		max:     max,
		entries: make(map[[sha256.Size]byte]*cachedIdentity),
		byUser:  make(map[string]map[[sha256.Size]byte]struct{}),
		byToken: make(map[string][sha256.Size]byte),
		changed: make(map[string]time.Time),
	}
}

func (c *identityCache) get(k [sha256.Size]byte) (cachedIdentity, bool) {
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if !ok {
		return cachedIdentity{}, false
	}
	return *e, true
}

// put caches e unless key holds a tombstone, and returns the entry that
// stands: a Verify that read "not revoked" just before a Logout must not
// bring the token back to life, nor one that read a user's record just
// before a change event make it look current.
func (c *identityCache) put(k [sha256.Size]byte, e cachedIdentity, now time.Time) cachedIdentity {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.entries[k]
	switch {
	case ok && old.id.revoked:
		return *old
	case !ok && len(c.entries) >= c.max:
		c.evict(now)
	}
	if at, changed := c.changed[e.id.OpenID]; changed && !at.Before(e.checked) {
		e.stale = true
	}
	c.entries[k] = &e
	c.index(k, e.id)
	return e
}

// revoke leaves a tombstone for id's token.
func (c *identityCache) revoke(k [sha256.Size]byte, id Identity, now time.Time) {
	id.revoked = true
	c.put(k, cachedIdentity{id: id, checked: now}, now)
}

// stale makes the next Verify of k re-read the store; a tombstone stays one.
func (c *identityCache) stale(k [sha256.Size]byte) {
	c.mu.Lock()
	if e, ok := c.entries[k]; ok && !e.id.revoked {
		e.stale = true
	}
	c.mu.Unlock()
}

// revokeToken makes the cached token jti a tombstone, if it is cached.
func (c *identityCache) revokeToken(jti string) {
	c.mu.Lock()
	if k, ok := c.byToken[jti]; ok {
		c.entries[k].id.revoked = true
	}
	c.mu.Unlock()
}

// userChanged marks every cached token of openid stale, and remembers the
// change for Verifies already reading the store.
func (c *identityCache) userChanged(openid string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for u, at := range c.changed {
		if now.Sub(at) > changedKept {
			delete(c.changed, u)
		}
	}
	c.changed[openid] = now
	for k := range c.byUser[openid] {
		if e := c.entries[k]; !e.id.revoked {
			e.stale = true
		}
	}
}

// flush forgets everything: after events may have been missed.
func (c *identityCache) flush() {
	c.mu.Lock()
	clear(c.entries)
	clear(c.byUser)
	clear(c.byToken)
	clear(c.changed)
	c.mu.Unlock()
}

func (c *identityCache) index(k [sha256.Size]byte, id Identity) {
	tokens := c.byUser[id.OpenID]
	if tokens == nil {
		tokens = make(map[[sha256.Size]byte]struct{}, 1)
		c.byUser[id.OpenID] = tokens
	}
	tokens[k] = struct{}{}
	c.byToken[id.TokenID] = k
}

// drop removes k and its index entries; the caller holds mu.
func (c *identityCache) drop(k [sha256.Size]byte) {
	e, ok := c.entries[k]
	if !ok {
		return
	}
	delete(c.entries, k)
	if tokens := c.byUser[e.id.OpenID]; tokens != nil {
		delete(tokens, k)
		if len(tokens) == 0 {
			delete(c.byUser, e.id.OpenID)
		}
	}
	delete(c.byToken, e.id.TokenID)
}

// evict drops expired entries, and if none were, an arbitrary eighth: the
// cache only saves work, so losing an entry costs one signature check.
func (c *identityCache) evict(now time.Time) {
	before := len(c.entries)
	for k, e := range c.entries {
		if !now.Before(e.id.ExpiresAt) {
			c.drop(k)
		}
	}
	if len(c.entries) < before {
		return
	}
	n := c.max/8 + 1
	for k := range c.entries {
		if n == 0 {
			break
		}
		c.drop(k)
		n--
	}
}

func (c *identityCache) remove(k [sha256.Size]byte) {
	c.mu.Lock()
	c.drop(k)
	c.mu.Unlock()
}

// rejectedCache remembers tokens that failed verification for rejectedTTL,
// so that a client replaying one forged token costs a map lookup rather than
// a signature check each time. It never grows past max: when full it is
// emptied, so attacker-chosen tokens cannot make it big, only cold.
type rejectedCache struct {
	mu   sync.RWMutex
	max  int
	seen map[[sha256.Size]byte]time.Time
}

func (c *rejectedCache) has(k [sha256.Size]byte, now time.Time) bool {
	c.mu.RLock()
	at, ok := c.seen[k]
	c.mu.RUnlock()
	return ok && now.Sub(at) < rejectedTTL
}

func (c *rejectedCache) add(k [sha256.Size]byte, now time.Time) {
	c.mu.Lock()
	if len(c.seen) >= c.max {
		clear(c.seen)
	}
	c.seen[k] = now
	c.mu.Unlock()
}

// revocations holds the token ids this instance revoked or saw revoked,
// until their tokens expire: a revocation the store loses (an evicting
// Redis, a flush, a failover) is still honoured here, and so is one made
// before the store went away under fail_open.
type revocations struct {
	mu    sync.RWMutex
	max   int
	until map[string]time.Time // jti → the token's expiry
}

func (r *revocations) has(jti string, now time.Time) bool {
	r.mu.RLock()
	exp, ok := r.until[jti]
	r.mu.RUnlock()
	return ok && now.Before(exp)
}

// add holds jti until exp. When full, expired entries go; if none has
// expired, jti is not held here, and the store and the cache's tombstone
// remain the record of it.
func (r *revocations) add(jti string, exp, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.until) >= r.max {
		for k, e := range r.until {
			if !now.Before(e) {
				delete(r.until, k)
			}
		}
		if len(r.until) >= r.max {
			return
		}
	}
	r.until[jti] = exp
}
