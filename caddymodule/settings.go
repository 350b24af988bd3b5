package caddymodule

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/wxauth/caddy-wxauth/wechat"
)

// Settings are what the accounts of one deployment share: where WeChat is,
// how long tokens and users live, the store and the signing keys. The global
// `wxauth` block sets them for its accounts; a handler's inline form
// (app_id/app_secret in the handler) sets them for its one mini program.
type Settings struct {
	// Base URL of WeChat's server API. Default: https://api.weixin.qq.com.
	// Point it at cmd/wxmock for offline development.
	APIBase string `json:"api_base,omitempty"`

	// How long an issued token is valid. Default: 2h. A token is refused
	// from exactly this long after it was issued.
	TokenTTL caddy.Duration `json:"token_ttl,omitempty"`
	// How long a bound phone number and unionid are kept after the user's
	// last login. Default: 720h (30 days).
	UserTTL caddy.Duration `json:"user_ttl,omitempty"`
	// How long this instance trusts what it last read from the store about a
	// token (revocation, phone): the longest a logout or phone binding done on
	// another instance takes to be seen here. Default: 2s. A negative value
	// (`cache_ttl off` in the Caddyfile) reads the store on every request; the
	// signature of a token seen before is still not checked again.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`

	// Where sessions, revocations, phone bindings, signing keys and the
	// access_token live. Default: memory (one process).
	Store *StoreConfig `json:"store,omitempty"`

	// What verification does while the store cannot be reached:
	// "fail_closed" (default) answers 503 store_unavailable; "fail_open"
	// keeps serving the tokens this instance verified and held as valid when
	// the store went away, so a Redis outage does not take the API down — at
	// the price that logouts made on other instances during the outage are
	// not seen. A token not seen before answers 503, a revoked one 401.
	// Login, phone and logout need the store either way.
	StoreOutage string `json:"store_outage,omitempty"`

	// Path to a PEM file of Ed25519 or ECDSA P-256 private keys; the first
	// signs, all verify. Without it, keys are generated, kept in the store and
	// rotated daily.
	SigningKey string `json:"signing_key,omitempty"`
}

// StoreConfig chooses the session store.
type StoreConfig struct {
	// "memory" or "redis".
	Type string `json:"type,omitempty"`
	// For redis: redis://, rediss://, redis-sentinel:// or redis-cluster://
	// URL; placeholders are resolved when the config loads.
	URL string `json:"url,omitempty"`
	// Prepended to every key, before the app_id. Default "wxauth:".
	Prefix string `json:"prefix,omitempty"`
}

const defaultTokenTTL = 2 * time.Hour

// withDefaults returns s with its defaults filled in.
func (s Settings) withDefaults() Settings {
	if s.APIBase == "" {
		s.APIBase = wechat.DefaultBaseURL
	}
	if s.TokenTTL == 0 {
		s.TokenTTL = caddy.Duration(defaultTokenTTL)
	}
	store := StoreConfig{Type: "memory"}
	if s.Store != nil {
		store = *s.Store
	}
	if store.Type == "" {
		store.Type = "memory"
	}
	if store.Prefix == "" {
		store.Prefix = "wxauth:"
	}
	s.Store = &store
	return s
}

// isZero reports whether no setting is given.
func (s Settings) isZero() bool { return s == Settings{} }

// check reports the first mistake in s.
func (s Settings) check() error {
	switch {
	case s.TokenTTL < 0:
		return fmt.Errorf("wxauth: token_ttl must be positive, got %v", time.Duration(s.TokenTTL))
	case s.UserTTL < 0:
		return fmt.Errorf("wxauth: user_ttl must be positive, got %v", time.Duration(s.UserTTL))
	}
	if s.APIBase != "" {
		u, err := url.Parse(s.APIBase)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("wxauth: api_base must be an http(s) URL, got %q", s.APIBase)
		}
	}
	switch s.StoreOutage {
	case "", "fail_closed", "fail_open":
	default:
		return fmt.Errorf("wxauth: store_outage must be fail_closed or fail_open, got %q", s.StoreOutage)
	}
	if st := s.Store; st != nil {
		switch st.Type {
		case "memory", "":
			if st.URL != "" {
				return errors.New("wxauth: store memory takes no URL")
			}
		case "redis":
			if st.URL == "" {
				return errors.New("wxauth: store redis needs a URL")
			}
		default:
			return fmt.Errorf("wxauth: unknown store %q (memory or redis)", st.Type)
		}
	}
	return nil
}
