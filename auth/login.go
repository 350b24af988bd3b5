package auth

import (
	"context"
	"errors"
	"time"
)

// maxCodeLen bounds client-sent codes; WeChat's are 32 characters.
const maxCodeLen = 256

// Login is the answer to a successful login.
type Login struct {
	Token     string `json:"token"`
	TokenType string `json:"token_type"`
	ExpiresIn int64  `json:"expires_in"`
	OpenID    string `json:"openid"`
	UnionID   string `json:"unionid,omitempty"`
	HasPhone  bool   `json:"has_phone"`
}

// Login exchanges a wx.login code for a token. clientIP keys the login rate
// limit. The session_key WeChat returns is kept, sealed, and never returned.
func (s *Service) Login(ctx context.Context, code, clientIP string) (*Login, error) {
	if err := checkCode(code); err != nil {
		return nil, err
	}
	if err := s.limitLogin(ctx, clientIP); err != nil {
		return nil, err
	}
	// WeChat refuses a reused code too, but only after a round trip; claiming
	// it first means two racing requests send it to WeChat once.
	fresh, err := s.cfg.Store.SetNX(ctx, s.codeKey(code), []byte{1}, codeTTL)
	if err != nil {
		return nil, storeError("claim code", err)
	}
	if !fresh {
		return nil, newError(CodeInvalidCode, "the code is invalid or was already used", errors.New("code replayed"))
	}

	sess, err := s.cfg.WeChat.Code2Session(ctx, code)
	if err != nil {
		werr := wechatError(err)
		if werr.Code == CodeUpstreamError {
			// WeChat may never have seen the code: let the client retry it.
			_ = s.cfg.Store.Delete(ctx, s.codeKey(code))
		}
		return nil, werr
	}

	if err := s.cfg.Store.Push(ctx, s.sessKeysKey(sess.OpenID), s.seal.seal([]byte(sess.SessionKey)), s.cfg.SessionKeysKept, s.cfg.TokenTTL); err != nil {
		return nil, storeError("keep session_key", err)
	}
	// Retention counts from the last login. The record is rewritten only for
	// a new unionid; otherwise its TTL is renewed in place, so that a phone
	// bound meanwhile through another instance is not overwritten by what
	// this login read.
	u, err := s.loadUser(ctx, sess.OpenID)
	if err != nil {
		return nil, err
	}
	switch {
	case sess.UnionID != "" && sess.UnionID != u.UnionID:
		u.UnionID = sess.UnionID
		err = s.saveUser(ctx, sess.OpenID, u)
	case u != (user{}):
		_, err = s.cfg.Store.Expire(ctx, s.userKey(sess.OpenID), s.cfg.UserTTL)
		if err != nil {
			err = storeError("keep user", err)
		}
	}
	if err != nil {
		return nil, err
	}

	raw, claims, err := s.cfg.Tokens.Issue(ctx, sess.OpenID)
	if err != nil {
		return nil, storeError("issue token", err)
	}
	return &Login{
		Token:     raw,
		TokenType: "Bearer",
		ExpiresIn: int64(claims.ExpiresAt.Sub(claims.IssuedAt) / time.Second),
		OpenID:    sess.OpenID,
		UnionID:   u.UnionID,
		HasPhone:  u.Phone != nil,
	}, nil
}

// Logout revokes the token id was verified from, on every instance sharing
// the store.
func (s *Service) Logout(ctx context.Context, id Identity) error {
	// The revocation must outlive the token; a minute covers verifiers' leeway.
	ttl := id.ExpiresAt.Sub(s.cfg.Now()) + time.Minute
	if err := s.cfg.Store.Set(ctx, s.revokedKey(id.TokenID), []byte{1}, ttl); err != nil {
		return storeError("revoke token", err)
	}
	s.cache.remove(id.cacheKey)
	return nil
}

func checkCode(code string) error {
	if code == "" {
		return newError(CodeInvalidRequest, `"code" is required`, nil)
	}
	if len(code) > maxCodeLen {
		return newError(CodeInvalidRequest, `"code" is too long`, nil)
	}
	return nil
}

func (s *Service) limitLogin(ctx context.Context, clientIP string) error {
	if s.cfg.LoginRateLimit <= 0 {
		return nil
	}
	n, err := s.cfg.Store.Incr(ctx, s.rateKey(clientIP), s.cfg.LoginRateWindow)
	if err != nil {
		return storeError("count logins", err)
	}
	if n > int64(s.cfg.LoginRateLimit) {
		return newError(CodeRateLimited, "too many logins from this address, retry later", nil)
	}
	return nil
}
