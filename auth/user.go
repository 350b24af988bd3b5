package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wxauth/caddy-wxauth/session"
)

// user is what the store keeps of a user besides their session_keys: one
// record, so that a cache refresh on the hot path reads it with one lookup.
// It lives UserTTL from the user's last login, phone binding or profile.
type user struct {
	UnionID string
	Phone   *Phone // nil until a phone is bound
}

// The record is a JSON array, ["unionid","phone_number","pure_phone_number",
// "country_code"] or ["unionid"] without a phone: half the size of an object
// with field names (it is kept for every user), still legible in redis-cli.
func (u user) MarshalJSON() ([]byte, error) {
	fields := []string{u.UnionID}
	if p := u.Phone; p != nil {
		fields = append(fields, p.PhoneNumber, p.PurePhoneNumber, p.CountryCode)
	}
	return json.Marshal(fields)
}

func (u *user) UnmarshalJSON(b []byte) error {
	var fields []string
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	switch len(fields) {
	case 1:
		*u = user{UnionID: fields[0]}
	case 4:
		*u = user{UnionID: fields[0], Phone: &Phone{PhoneNumber: fields[1], PurePhoneNumber: fields[2], CountryCode: fields[3]}}
	default:
		return fmt.Errorf("user record has %d fields, want 1 or 4", len(fields))
	}
	return nil
}

// loadUser reads openid's record; a user never seen has the zero record.
func (s *Service) loadUser(ctx context.Context, openid string) (user, error) {
	var u user
	v, err := s.cfg.Store.Get(ctx, s.userKey(openid))
	switch {
	case errors.Is(err, session.ErrNotFound):
		return u, nil
	case err != nil:
		return u, storeError("read user", err)
	}
	if err := json.Unmarshal(v, &u); err != nil {
		return u, storeError("decode user", err)
	}
	return u, nil
}

// updateUser applies change to openid's record atomically — a phone binding
// and a profile update racing on two instances both land — and keeps it for
// another UserTTL. A record left empty (no unionid, no phone) is not
// written: most users would need none. A record that changed is announced
// to the other instances.
func (s *Service) updateUser(ctx context.Context, openid string, change func(*user)) (user, error) {
	var u user
	changed := false
	err := s.cfg.Store.Update(ctx, s.userKey(openid), s.cfg.UserTTL, func(old []byte) ([]byte, error) {
		u = user{}
		if old != nil {
			if err := json.Unmarshal(old, &u); err != nil {
				return nil, fmt.Errorf("decode user: %w", err)
			}
		}
		change(&u)
		if u == (user{}) {
			return nil, nil
		}
		v, err := json.Marshal(u)
		changed = !bytes.Equal(v, old)
		return v, err
	})
	if err != nil {
		return user{}, storeError("keep user", err)
	}
	if changed {
		s.publish(ctx, event{Type: eventUser, OpenID: openid})
	}
	return u, nil
}

// renewUser is a login's update: retention counts from the last login, and
// a unionid WeChat sent is kept.
func (s *Service) renewUser(ctx context.Context, openid, unionid string) (user, error) {
	return s.updateUser(ctx, openid, func(u *user) {
		if unionid != "" {
			u.UnionID = unionid
		}
	})
}
