// Package auth is wxauth's login state machine: it turns wx.login codes into
// tokens, binds phone numbers, revokes tokens and verifies them on the hot
// path. It joins the wechat, token and session packages and knows nothing of
// Caddy or HTTP.
package auth

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wxauth/caddy-wxauth/session"
	"github.com/wxauth/caddy-wxauth/token"
	"github.com/wxauth/caddy-wxauth/wechat"
)

// Config configures a Service. Zero optional fields take the defaults shown.
type Config struct {
	AppID string
	// WeChat is the platform this account's users log in through.
	WeChat Platform
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
	// CacheTTL bounds how stale a verified token's revocation and phone state
	// may be on this instance while no change events flow (see Caches): the
	// safety net. Default 2s; negative reads the store on every request,
	// events or not.
	CacheTTL time.Duration
	// FailOpen, when the store cannot be reached, serves a token this
	// instance held as valid with what it last knew of it, instead of
	// failing with CodeStoreUnavailable.
	FailOpen bool
	// Events, when set, carries this Service's changes (logouts, phone and
	// profile updates) to the other instances sharing the store, on
	// EventsChannel(KeyPrefix). A failed publish is reported to
	// OnPublishError (the change itself is stored; others see it after
	// their CacheTTL only if their subscription is down).
	Events         Publisher
	OnPublishError func(error)
	// Caches is what the Service remembers in this process (see Caches).
	// Default: caches of its own; share one across the Services that a
	// config reload builds for the same account and store.
	Caches *Caches
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Publisher sends a change event to every instance sharing the store;
// session.Broadcaster is one.
type Publisher interface {
	Publish(ctx context.Context, channel string, msg []byte) error
}

// Platform is what a kind of account does for a login: turn a login code
// into the user's identity and session key, and a phone code into the
// phone number, with the app's own access_token. A WeChat mini program is
// one kind (*wechat.Client); another platform's mini programs (Douyin, QQ,
// Alipay) would be another implementation, with the same Service around it.
type Platform interface {
	Code2Session(ctx context.Context, code string) (*wechat.Session, error)
	GetUserPhoneNumber(ctx context.Context, code, openid string) (*wechat.PhoneInfo, error)
	// ExchangeWebCode turns the code of a web login (an official account's
	// page, a website's QR login) into the user's identity.
	ExchangeWebCode(ctx context.Context, code string) (*wechat.WebUser, error)
}

var _ Platform = (*wechat.Client)(nil)

// Service runs logins, phone binding, logouts and verification.
type Service struct {
	cfg      Config
	seal     *sealer
	stateMAC []byte // signs web logins' state cookies
	caches   *Caches
	cache    *identityCache
	rejected *rejectedCache
	revoked  *revocations
}

const (
	defaultUserTTL = 30 * 24 * time.Hour
	// sessionKeysKept is how many recent session_keys are tried when
	// decrypting legacy data (the refreshed-key race).
	sessionKeysKept  = 3
	defaultCacheTTL  = 2 * time.Second
	defaultCacheSize = 100_000
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
	}
	seal, err := newSealer(cfg.SealKey)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	// A key of its own, so that no state cookie is ever a sealing oracle.
	stateMAC, err := hkdf.Key(sha256.New, cfg.SealKey, nil, "caddy-wxauth web login state v1", 32)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if cfg.UserTTL <= 0 {
		cfg.UserTTL = defaultUserTTL
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = defaultCacheTTL
	}
	if cfg.Caches == nil {
		cfg.Caches = NewCaches(0)
	}
	if cfg.Now != nil {
		cfg.Caches.now = cfg.Now
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{
		cfg:      cfg,
		seal:     seal,
		stateMAC: stateMAC,
		caches:   cfg.Caches,
		cache:    cfg.Caches.identities,
		rejected: cfg.Caches.rejected,
		revoked:  cfg.Caches.revoked,
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
func (s *Service) revokedKey(jti string) string      { return s.cfg.KeyPrefix + "revoked:" + jti }
func (s *Service) codeKey(code string) string        { return s.cfg.KeyPrefix + "code:" + digest(code) }
func (s *Service) stateClaimKey(state string) string { return s.cfg.KeyPrefix + "web-state:" + state }

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%x", sum[:16])
}

// publish tells the other instances sharing the store about e.
func (s *Service) publish(ctx context.Context, e event) {
	if s.cfg.Events == nil {
		return
	}
	msg, err := json.Marshal(e)
	if err == nil {
		err = s.cfg.Events.Publish(context.WithoutCancel(ctx), EventsChannel(s.cfg.KeyPrefix), msg)
	}
	if err != nil && s.cfg.OnPublishError != nil {
		s.cfg.OnPublishError(fmt.Errorf("publishing a %s event: %w", e.Type, err))
	}
}
