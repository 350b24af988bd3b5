package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/wxauth/caddy-wxauth/wechat"
)

var errDecrypt = newError(CodeDecryptFailed, "the encrypted data could not be decrypted", nil)

// PhoneByCode binds the phone behind a getPhoneNumber code (the current API)
// to id's user.
func (s *Service) PhoneByCode(ctx context.Context, id Identity, code string) (*Phone, error) {
	if err := checkCode(code); err != nil {
		return nil, err
	}
	info, err := s.cfg.WeChat.GetUserPhoneNumber(ctx, code, id.OpenID)
	if err != nil {
		return nil, wechatError(err)
	}
	if info.Watermark.AppID != "" && info.Watermark.AppID != s.cfg.AppID {
		return nil, newError(CodeUpstreamError, "WeChat answered for another app", fmt.Errorf("watermark appid %q", info.Watermark.AppID))
	}
	return s.bindPhone(ctx, id, info)
}

// PhoneByEncryptedData binds the phone in legacy encryptedData. The mini
// program may have called wx.login after WeChat encrypted the data, which
// replaces the session_key: the user's recent keys are tried newest first.
func (s *Service) PhoneByEncryptedData(ctx context.Context, id Identity, encryptedData, iv string) (*Phone, error) {
	var info *wechat.PhoneInfo
	err := s.eachSessionKey(ctx, id.OpenID, func(key string) bool {
		p, err := wechat.DecryptPhone(key, encryptedData, iv, s.cfg.AppID)
		info = p
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	return s.bindPhone(ctx, id, info)
}

// Profile is the answer to /wx/profile. WeChat has anonymized nickname and
// avatar since 2022 ("微信用户" and a grey avatar).
type Profile struct {
	OpenID    string `json:"openid"`
	UnionID   string `json:"unionid,omitempty"`
	NickName  string `json:"nickname"`
	AvatarURL string `json:"avatar_url"`
}

// Profile checks legacy getUserProfile data — rawData signed with a
// session_key of id's user, encryptedData naming the same openid — and keeps
// the unionid it carries.
func (s *Service) Profile(ctx context.Context, id Identity, rawData, signature, encryptedData, iv string) (*Profile, error) {
	var info *wechat.UserInfo
	err := s.eachSessionKey(ctx, id.OpenID, func(key string) bool {
		if !wechat.VerifyRawDataSignature(rawData, signature, key) {
			return false
		}
		u, err := wechat.DecryptUserInfo(key, encryptedData, iv, s.cfg.AppID)
		info = u
		return err == nil && u.OpenID == id.OpenID
	})
	if err != nil {
		return nil, err
	}
	u, err := s.updateUser(ctx, id.OpenID, func(u *user) {
		if info.UnionID != "" {
			u.UnionID = info.UnionID
		}
	})
	if err != nil {
		return nil, err
	}
	s.cache.stale(id.cacheKey)
	return &Profile{OpenID: id.OpenID, UnionID: u.UnionID, NickName: info.NickName, AvatarURL: info.AvatarURL}, nil
}

// eachSessionKey calls try with openid's recent session_keys, newest first,
// until it returns true. None succeeding is errDecrypt, whatever the reason,
// so that the answer is no oracle.
func (s *Service) eachSessionKey(ctx context.Context, openid string, try func(sessionKey string) bool) error {
	sealed, err := s.cfg.Store.List(ctx, s.sessKeysKey(openid))
	if err != nil {
		return storeError("read session_keys", err)
	}
	for _, v := range sealed {
		key, err := s.seal.open(v, []byte(openid))
		if err != nil {
			continue // sealed under another AppSecret: unusable
		}
		if try(string(key)) {
			return nil
		}
	}
	return errDecrypt
}

func (s *Service) bindPhone(ctx context.Context, id Identity, info *wechat.PhoneInfo) (*Phone, error) {
	if info.PhoneNumber == "" {
		return nil, newError(CodeUpstreamError, "WeChat returned no phone number", errors.New("empty phoneNumber"))
	}
	u, err := s.updateUser(ctx, id.OpenID, func(u *user) {
		u.Phone = &Phone{PhoneNumber: info.PhoneNumber, PurePhoneNumber: info.PurePhoneNumber, CountryCode: info.CountryCode}
	})
	if err != nil {
		return nil, err
	}
	s.cache.stale(id.cacheKey)
	return u.Phone, nil
}
