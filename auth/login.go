package auth

import (
	"context"
	"errors"
	"time"
)

// maxCodeLen bounds client-sent codes; WeChat's are 32 characters. A longer
// code cannot be WeChat's, so it never costs a WeChat call.
const maxCodeLen = 128

// Login is the answer to a successful login.
type Login struct {
	Token     string `json:"token"`
	TokenType string `json:"token_type"`
	ExpiresIn int64  `json:"expires_in"`
	OpenID    string `json:"openid"`
	UnionID   string `json:"unionid,omitempty"`
	HasPhone  bool   `json:"has_phone"`
	AppID     string `json:"appid"`
}

// Login exchanges a wx.login code for a token. The session_key WeChat
// returns is kept, sealed, and never returned.
//
// A code WeChat refuses leaves nothing in the store, so a flood of made-up
// codes can neither grow the store nor, on a Redis that evicts, push out
// revocations and phone bindings; a code WeChat accepted stays claimed for
// codeTTL, and a replay is refused without asking WeChat again.
func (s *Service) Login(ctx context.Context, code string) (*Login, error) {
	if err := checkCode(code); err != nil {
		return nil, err
	}
	// Claimed before WeChat sees it, so that racing requests with one code
	// (a double tap) send it to WeChat once.
	if err := s.claimCode(ctx, code); err != nil {
		return nil, err
	}
	sess, err := s.cfg.WeChat.Code2Session(ctx, code)
	if err != nil {
		// Refused or never answered, the code leaves nothing behind — even
		// when the client has hung up.
		_ = s.cfg.Store.Delete(context.WithoutCancel(ctx), s.codeKey(code))
		return nil, wechatError(err)
	}
	if err := s.cfg.Store.Push(ctx, s.sessKeysKey(sess.OpenID), s.seal.seal([]byte(sess.SessionKey), []byte(sess.OpenID)), sessionKeysKept, s.cfg.TokenTTL); err != nil {
		return nil, storeError("keep session_key", err)
	}
	return s.issue(ctx, sess.OpenID, sess.UnionID)
}

// issue records that openid logged in (with its unionid, when WeChat told
// it) and issues their token: how every kind of login ends.
func (s *Service) issue(ctx context.Context, openid, unionid string) (*Login, error) {
	u, err := s.renewUser(ctx, openid, unionid)
	if err != nil {
		return nil, err
	}
	raw, claims, err := s.cfg.Tokens.Issue(ctx, openid)
	if err != nil {
		return nil, storeError("issue token", err)
	}
	return &Login{
		Token:     raw,
		TokenType: "Bearer",
		ExpiresIn: int64(claims.ExpiresAt.Sub(claims.IssuedAt) / time.Second),
		OpenID:    openid,
		UnionID:   u.UnionID,
		HasPhone:  u.Phone != nil,
		AppID:     s.cfg.AppID,
	}, nil
}

// claimCode marks code as used; a code already claimed is refused.
func (s *Service) claimCode(ctx context.Context, code string) error {
	fresh, err := s.cfg.Store.SetNX(ctx, s.codeKey(code), []byte{1}, codeTTL)
	switch {
	case err != nil:
		return storeError("claim code", err)
	case !fresh:
		return newError(CodeInvalidCode, "the code is invalid or was already used", errors.New("code replayed"))
	}
	return nil
}

// Logout revokes the token id was verified from, on every instance sharing
// the store. On this instance the refusal is final at once: the token's
// cache entry becomes a tombstone that no Verify in flight can overwrite,
// and the revocation is also held in memory until the token expires, so
// losing it from the store (an evicting Redis, a flush) does not undo it here.
func (s *Service) Logout(ctx context.Context, id Identity) error {
	// The revocation outlives the token, with a minute for instances whose
	// clocks run behind.
	ttl := id.ExpiresAt.Sub(s.cfg.Now()) + time.Minute
	if err := s.cfg.Store.Set(ctx, s.revokedKey(id.TokenID), []byte{1}, ttl); err != nil {
		return storeError("revoke token", err)
	}
	s.revoked.add(id.TokenID, id.ExpiresAt, s.cfg.Now())
	s.cache.revoke(id.cacheKey, id, s.cfg.Now())
	s.publish(ctx, event{Type: eventRevoke, TokenID: id.TokenID, Expiry: id.ExpiresAt.Unix()})
	return nil
}

// checkCode refuses, without a WeChat call, a code that cannot be one:
// WeChat's codes are short runs of printable ASCII without spaces.
func checkCode(code string) error {
	if code == "" {
		return newError(CodeInvalidRequest, `"code" is required`, nil)
	}
	if len(code) > maxCodeLen {
		return newError(CodeInvalidCode, "the code is invalid or was already used", errors.New("code longer than 128 bytes"))
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '!' || code[i] > '~' {
			return newError(CodeInvalidCode, "the code is invalid or was already used", errors.New("code holds a byte outside ! to ~"))
		}
	}
	return nil
}
