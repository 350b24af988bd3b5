// Package auth is wxauth's login state machine: it turns wx.login codes into
// tokens, binds phone numbers, revokes tokens and verifies them on the hot
// path. It joins the wechat, token and session packages and knows nothing of
// Caddy or HTTP.
package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wxauth/caddy-wxauth/session"
	"github.com/wxauth/caddy-wxauth/token"
	"github.com/wxauth/caddy-wxauth/wechat"
)

// Config configures a Service. Zero optional fields take the defaults shown.
type Config struct {
	AppID  string
	WeChat *wechat.Client
	Tokens *token.Manager
	Store  session.Store
	// KeyPrefix namespaces every store key, e.g. "wxauth:<appid>:".
	KeyPrefix string
	// SealKey encrypts session_keys before they reach the store, so a store
	// dump alone reveals none. 32 bytes; see DeriveSealKey.
	SealKey []byte
	// TokenTTL is how long issued tokens live; session_keys are kept as long.
	TokenTTL time.Duration
	// UserTTL is how long a phone binding and unionid outlive the user's last
	// login. Default 30 days.
	UserTTL time.Duration
	// SessionKeysKept is how many recent session_keys are tried when
	// decrypting legacy data (the refreshed-key race). Default 3.
	SessionKeysKept int
	// CacheTTL bounds how stale a verified token's revocation and phone state
	// may be on this instance. Default 2s; negative disables the cache.
	CacheTTL time.Duration
	// FailOpen, when the store cannot be reached, accepts a token whose
	// signature verifies with what this instance last knew of it (nothing
	// when it knew nothing), instead of failing with CodeStoreUnavailable.
	// Revocations made while the store is down are then not seen.
	FailOpen bool
	// CacheSize bounds the verified-token cache. Default 100000.
	CacheSize int
	// LoginRateLimit allows that many logins per client IP per
	// LoginRateWindow; 0 is no limit.
	LoginRateLimit  int
	LoginRateWindow time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Service runs logins, phone binding, logouts and verification.
type Service struct {
	cfg      Config
	seal     *sealer
	cache    *identityCache
	rejected *rejectedCache
	revoked  *revocations
}

const (
	defaultUserTTL         = 30 * 24 * time.Hour
	defaultSessionKeysKept = 3
	defaultCacheTTL        = 2 * time.Second
	defaultCacheSize       = 100_000
	// rejectedSize and rejectedTTL bound the cache of refused tokens.
	rejectedSize = 10_000
	rejectedTTL  = 10 * time.Second
	// revocationsKept bounds the revocations held in memory.
	revocationsKept = 1 << 20
	// codeTTL is how long a wx.login code is remembered to refuse a replay;
	// WeChat's codes expire after five minutes.
	codeTTL = 5 * time.Minute
)

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.AppID == "":
		return nil, errors.New("auth: AppID is required")
	case cfg.WeChat == nil || cfg.Tokens == nil || cfg.Store == nil:
		return nil, errors.New("auth: WeChat, Tokens and Store are required")
	case cfg.TokenTTL <= 0:
		return nil, errors.New("auth: TokenTTL must be positive")
	case cfg.LoginRateLimit > 0 && cfg.LoginRateWindow <= 0:
		return nil, errors.New("auth: LoginRateWindow must be positive with a LoginRateLimit")
	}
	seal, err := newSealer(cfg.SealKey)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if cfg.UserTTL <= 0 {
		cfg.UserTTL = defaultUserTTL
	}
	if cfg.SessionKeysKept <= 0 {
		cfg.SessionKeysKept = defaultSessionKeysKept
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = defaultCacheTTL
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = defaultCacheSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{
		cfg:      cfg,
		seal:     seal,
		cache:    newIdentityCache(cfg.CacheSize),
		rejected: &rejectedCache{max: rejectedSize, seen: make(map[[sha256.Size]byte]time.Time)},
		revoked:  &revocations{max: revocationsKept, until: make(map[string]time.Time)},
	}, nil
}

// JWKS returns the public keys that verify tokens.
func (s *Service) JWKS(ctx context.Context) ([]byte, error) {
	set, err := s.cfg.Tokens.JWKS(ctx)
	if err != nil {
		return nil, storeError("load signing keys", err)
	}
	return set, nil
}

// Store keys, all under KeyPrefix. Client-chosen strings (codes, IPs) are
// hashed so they cannot shape the key space.
func (s *Service) userKey(openid string) string { return s.cfg.KeyPrefix + "user:" + openid }
func (s *Service) sessKeysKey(openid string) string {
	return s.cfg.KeyPrefix + "session-keys:" + openid
}
func (s *Service) revokedKey(jti string) string { return s.cfg.KeyPrefix + "revoked:" + jti }
func (s *Service) codeKey(code string) string   { return s.cfg.KeyPrefix + "code:" + digest(code) }
func (s *Service) rateKey(ip string) string     { return s.cfg.KeyPrefix + "login-rate:" + digest(ip) }

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%x", sum[:16])
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
