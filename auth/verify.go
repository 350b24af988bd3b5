package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"time"

	"github.com/wxauth/caddy-wxauth/token"
)

// Identity is who a verified token names, with what the store knows of them.
type Identity struct {
	AppID     string // the account the token was issued for (its aud)
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
// when the store cannot answer (under FailOpen only for tokens this instance
// did not already hold as valid).
func (s *Service) Verify(ctx context.Context, raw string) (Identity, error) {
	if raw == "" {
		return Identity{}, errUnauthorized
	}
	key := tokenKey(raw)
	now := s.cfg.Now()

	cached, held := s.cache.get(key)
	switch {
	case !held:
		id, err := s.checkSignature(ctx, raw, key, now)
		if err != nil {
			return Identity{}, err
		}
		cached.id = id
	case !now.Before(cached.id.ExpiresAt):
		s.cache.remove(key)
		return Identity{}, errUnauthorized
	case cached.id.revoked:
		return Identity{}, errUnauthorized
	case !cached.stale && (now.Sub(cached.checked) < s.cfg.CacheTTL || (s.cfg.CacheTTL > 0 && s.caches.live.Load())):
		// While change events flow, what this instance holds is current
		// until an event says otherwise; else it is re-read every CacheTTL.
		return cached.id, nil
	}
	return s.refresh(ctx, key, cached, held, now)
}

// checkSignature verifies a token not in the cache. A refused token is
// remembered for rejectedTTL, so replaying it costs a lookup.
func (s *Service) checkSignature(ctx context.Context, raw string, key [sha256.Size]byte, now time.Time) (Identity, error) {
	if s.rejected.has(key, now) {
		return Identity{}, errUnauthorized
	}
	claims, err := s.cfg.Tokens.Verify(ctx, raw)
	if errors.Is(err, token.ErrInvalid) {
		// An unknown key may be one another instance is about to publish
		// (after the store lost its data): not remembered, so the token
		// verifies as soon as the key is known. Its refusal reads no
		// signature, so it stays cheap.
		if !errors.Is(err, token.ErrUnknownKey) {
			s.rejected.add(key, now)
		}
		return Identity{}, newError(CodeUnauthorized, "a valid Bearer token is required", err)
	}
	if err != nil {
		return Identity{}, storeError("load signing key", err)
	}
	return Identity{AppID: s.cfg.AppID, OpenID: claims.OpenID, TokenID: claims.ID, ExpiresAt: claims.ExpiresAt, cacheKey: key}, nil
}

// refresh reads what the store knows of a token now and caches it. With the
// store down, FailOpen serves a token this instance held as valid, with
// what it last knew, and tries the store again after CacheTTL rather than on
// every request; a token it had not seen stays refused.
func (s *Service) refresh(ctx context.Context, key [sha256.Size]byte, cached cachedIdentity, held bool, now time.Time) (Identity, error) {
	id, err := s.load(ctx, cached.id, now)
	if err != nil {
		if !s.cfg.FailOpen || !held {
			return Identity{}, err
		}
		id = cached.id
	}
	if s.revoked.has(id.TokenID, now) {
		id.revoked = true
	}
	if id = s.cache.put(key, cachedIdentity{id: id, checked: now}, now).id; id.revoked {
		return Identity{}, errUnauthorized
	}
	// A revocation event applied while this Verify read the store found no
	// entry to tombstone yet; it was held first, so it is seen here.
	if s.revoked.has(id.TokenID, now) {
		s.cache.revokeToken(id.TokenID)
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

// load fills id with what the store knows now — revocation, unionid, phone —
// in one round trip. A revocation found is also held in memory until the
// token expires.
func (s *Service) load(ctx context.Context, id Identity, now time.Time) (Identity, error) {
	values, err := s.cfg.Store.GetMulti(ctx, s.revokedKey(id.TokenID), s.userKey(id.OpenID))
	if err != nil {
		return id, storeError("read revocation and user", err)
	}
	if values[0] != nil {
		id.revoked = true
		s.revoked.add(id.TokenID, id.ExpiresAt, now)
		return id, nil
	}
	var u user
	if values[1] != nil {
		if err := json.Unmarshal(values[1], &u); err != nil {
			return id, storeError("decode user", err)
		}
	}
	id.UnionID, id.Phone = u.UnionID, u.Phone
	return id, nil
}
