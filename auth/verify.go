package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/wxauth/caddy-wxauth/session"
	"github.com/wxauth/caddy-wxauth/token"
)

// Identity is who a verified token names, with what the store knows of them.
type Identity struct {
	OpenID    string
	UnionID   string
	Phone     *Phone // nil until a phone is bound
	TokenID   string
	ExpiresAt time.Time

	cacheKey [sha256.Size]byte
	revoked  bool
}

// Phone is a bound phone number, as /wx/phone answers it.
type Phone struct {
	PhoneNumber     string `json:"phone_number"`
	PurePhoneNumber string `json:"pure_phone_number"`
	CountryCode     string `json:"country_code"`
}

var errUnauthorized = newError(CodeUnauthorized, "a valid Bearer token is required", nil)

// Verify returns the identity raw names. A token verified before skips the
// signature check; its revocation and phone are re-read from the store once
// CacheTTL has passed. Failures are CodeUnauthorized, or CodeStoreUnavailable
// when the store cannot answer (unless FailOpen).
func (s *Service) Verify(ctx context.Context, raw string) (Identity, error) {
	if raw == "" {
		return Identity{}, errUnauthorized
	}
	key := tokenKey(raw)
	now := s.cfg.Now()

	e, ok := s.cache.get(key)
	switch {
	case ok && !now.Before(e.id.ExpiresAt):
		// Let the token package judge expiry (it allows for clock skew).
		s.cache.remove(key)
		ok = false
	case ok && e.id.revoked:
		return Identity{}, errUnauthorized
	case ok && now.Sub(e.checked) < s.cfg.CacheTTL:
		return e.id, nil
	}
	if !ok {
		if s.rejected.has(key, now) {
			return Identity{}, errUnauthorized
		}
		claims, err := s.cfg.Tokens.Verify(ctx, raw)
		if errors.Is(err, token.ErrInvalid) {
			s.rejected.add(key, now)
			return Identity{}, newError(CodeUnauthorized, "a valid Bearer token is required", err)
		}
		if err != nil {
			return Identity{}, storeError("load signing key", err)
		}
		e.id = Identity{OpenID: claims.OpenID, TokenID: claims.ID, ExpiresAt: claims.ExpiresAt, cacheKey: key}
	}

	id, err := s.load(ctx, e.id)
	if err != nil {
		if !s.cfg.FailOpen {
			return Identity{}, err
		}
		// Serve what we knew; try the store again after CacheTTL rather
		// than on every request to a store that is down.
		id = e.id
	}
	s.cache.put(key, cachedIdentity{id: id, checked: now}, now)
	if id.revoked {
		return Identity{}, errUnauthorized
	}
	return id, nil
}

// tokenKey is the cache key of raw. A stack buffer spares the heap copy that
// []byte(raw) makes of any string over 32 bytes, on every request.
func tokenKey(raw string) [sha256.Size]byte {
	var buf [1024]byte
	if len(raw) <= len(buf) {
		return sha256.Sum256(buf[:copy(buf[:], raw)])
	}
	return sha256.Sum256([]byte(raw))
}

// load fills id with what the store knows now: revocation, unionid, phone.
func (s *Service) load(ctx context.Context, id Identity) (Identity, error) {
	if _, err := s.cfg.Store.Get(ctx, s.revokedKey(id.TokenID)); err == nil {
		id.revoked = true
		return id, nil
	} else if !errors.Is(err, session.ErrNotFound) {
		return id, storeError("read revocation", err)
	}
	u, err := s.loadUser(ctx, id.OpenID)
	if err != nil {
		return id, err
	}
	id.UnionID, id.Phone = u.UnionID, u.Phone
	return id, nil
}
