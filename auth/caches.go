package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Caches is what a Service remembers in this process: the tokens it
// verified (and tombstones of those logged out), the tokens it refused, and
// the revocations it made or saw. Kept across config reloads (one per
// account and store), a reload neither checks every token's signature again
// nor forgets a revocation the store has lost.
type Caches struct {
	identities *identityCache
	rejected   *rejectedCache
	revoked    *revocations
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
	}
}

// identityCache remembers verified tokens so the hot path skips the signature
// check and, for CacheTTL, the store. Only tokens whose signature verified
// enter it, so forged tokens cannot grow it.
type identityCache struct {
	mu      sync.RWMutex
	max     int
	entries map[[sha256.Size]byte]*cachedIdentity
}

type cachedIdentity struct {
	id      Identity
	checked time.Time // when revocation and phone were last read from the store
}

func newIdentityCache(max int) *identityCache {
	return &identityCache{max: max, entries: make(map[[sha256.Size]byte]*cachedIdentity)}
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
// bring the token back to life.
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
	c.entries[k] = &e
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
		e.checked = time.Time{}
	}
	c.mu.Unlock()
}

// evict drops expired entries, and if none were, an arbitrary eighth: the
// cache only saves work, so losing an entry costs one signature check.
func (c *identityCache) evict(now time.Time) {
	before := len(c.entries)
	for k, e := range c.entries {
		if !now.Before(e.id.ExpiresAt) {
			delete(c.entries, k)
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
		delete(c.entries, k)
		n--
	}
}

func (c *identityCache) remove(k [sha256.Size]byte) {
	c.mu.Lock()
	delete(c.entries, k)
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
