// Package caddymodule is the Caddy glue of caddy-wxauth: the
// http.handlers.wxauth module, its Caddyfile directive and its HTTP handler.
// The WeChat protocol, tokens and stores live in packages that know nothing of
// Caddy; this package only wires them to Caddy's config, logs and requests.
package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/wxauth/caddy-wxauth/auth"
	"github.com/wxauth/caddy-wxauth/session"
	"github.com/wxauth/caddy-wxauth/token"
	"github.com/wxauth/caddy-wxauth/wechat"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler puts WeChat Mini Program login in front of the handlers after it.
// It answers the login, phone, profile, logout and JWKS endpoints itself;
// every other request must carry a valid `Authorization: Bearer` token, and
// goes on with the user's identity in the `X-OpenID`, `X-UnionID`, `X-Phone`
// and `X-Phone-Country-Code` headers and the `{wx.openid}`, `{wx.unionid}`,
// `{wx.phone}` and `{http.auth.user.id}` placeholders. Identity headers sent
// by the client are always removed first.
type Handler struct {
	// The mini program's AppID. Required.
	AppID string `json:"app_id,omitempty"`
	// The mini program's AppSecret. Required. `{env.*}` and `{file.*}`
	// placeholders are resolved when the config loads, so the secret need not
	// appear in the config; it never appears in a response or a log.
	AppSecret string `json:"app_secret,omitempty"`
	// Base URL of WeChat's server API. Default: https://api.weixin.qq.com.
	// Point it at cmd/wxmock for offline development.
	APIBase string `json:"api_base,omitempty"`

	// Paths of the endpoints the handler answers itself. Defaults:
	// /wx/login, /wx/phone, /wx/profile, /wx/logout. The JWKS is served at
	// /wx/.well-known/jwks.json.
	LoginPath   string `json:"login_path,omitempty"`
	PhonePath   string `json:"phone_path,omitempty"`
	ProfilePath string `json:"profile_path,omitempty"`
	LogoutPath  string `json:"logout_path,omitempty"`

	// How long an issued token is valid. Default: 2h.
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

	// Limits logins per client IP. Off when absent.
	LoginRateLimit *RateLimit `json:"login_rate_limit,omitempty"`

	// Where sessions, revocations, phone bindings, signing keys and the
	// access_token live. Default: memory (one process).
	Store *StoreConfig `json:"store,omitempty"`

	// What verification does while the store cannot be reached:
	// "fail_closed" (default) answers 503 store_unavailable; "fail_open"
	// accepts tokens whose signature verifies, with the identity this
	// instance last saw for them, so a Redis outage does not take the API
	// down — at the price that logouts made during the outage are not seen.
	// Login, phone and logout need the store either way.
	StoreOutage string `json:"store_outage,omitempty"`

	// Path to a PEM file of Ed25519 or ECDSA P-256 private keys; the first
	// signs, all verify. Without it, keys are generated, kept in the store and
	// rotated daily.
	SigningKey string `json:"signing_key,omitempty"`

	// Requests matching these paths need no token: they go on without
	// identity headers, or with them when a valid token is present.
	Public caddyhttp.MatchPath `json:"public,omitempty"`
	// Requests matching these paths are refused with 403 phone_required
	// unless the user has bound a phone number.
	RequirePhone caddyhttp.MatchPath `json:"require_phone,omitempty"`

	// Log users' openids in the login, phone, profile and logout log lines.
	// Default false: openids are personal data, so logs carry a short hash
	// that tells users apart without naming them.
	LogOpenIDs bool `json:"log_openids,omitempty"`

	service *auth.Service
	store   *pooledStore
	keyring *pooledKeyring // nil with signing_key
	logger  *zap.Logger
	// credentialsRefused is logged once per config: the first-login 502
	// that a wrong app_id or app_secret causes.
	credentialsRefused *sync.Once
}

// RateLimit allows Requests per Window.
type RateLimit struct {
	Requests int            `json:"requests,omitempty"`
	Window   caddy.Duration `json:"window,omitempty"`
}

// StoreConfig chooses the session store.
type StoreConfig struct {
	// "memory" or "redis".
	Type string `json:"type,omitempty"`
	// For redis: redis://, rediss://, redis-sentinel:// or redis-cluster://
	// URL; placeholders are resolved when the config loads.
	URL string `json:"url,omitempty"`
	// For redis: prepended to every key, before the app_id. Default "wxauth:".
	Prefix string `json:"prefix,omitempty"`
}

const (
	defaultTokenTTL = 2 * time.Hour
	jwksPath        = "/wx/.well-known/jwks.json"
)

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wxauth",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision fills defaults, resolves secrets and builds the service.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.credentialsRefused = new(sync.Once)
	if err := initMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("wxauth: metrics: %w", err)
	}
	h.setDefaults()
	if err := h.check(); err != nil {
		return err
	}
	repl := caddy.NewReplacer()
	secret := repl.ReplaceKnown(h.AppSecret, "")
	if secret == "" {
		return errors.New("wxauth: app_secret resolved to an empty string")
	}
	for _, m := range []caddyhttp.MatchPath{h.Public, h.RequirePhone} {
		if err := m.Provision(ctx); err != nil {
			return fmt.Errorf("wxauth: path matcher: %w", err)
		}
	}
	var pem []byte
	if h.SigningKey != "" {
		var err error
		if pem, err = os.ReadFile(h.SigningKey); err != nil {
			return fmt.Errorf("wxauth: signing_key: %w", err)
		}
		if len(pem) == 0 {
			return fmt.Errorf("wxauth: signing_key: %s is empty", h.SigningKey)
		}
	}

	if warning := plainHTTPWarning(h.APIBase); warning != "" {
		h.logger.Warn(warning, zap.String("api_base", h.APIBase))
	}
	store, prefix, err := acquireStore(*h.Store, h.Store.Prefix+h.AppID+":", repl)
	if err != nil {
		return fmt.Errorf("wxauth: %w", err)
	}
	h.store = store
	if store.fresh {
		go warnIfEvicting(ctx, store.Store, h.logger)
	}

	tokenCfg := token.Config{AppID: h.AppID, TTL: time.Duration(h.TokenTTL), SigningKeyPEM: pem}
	if pem == nil {
		if h.keyring, err = acquireKeyring(store, prefix, time.Duration(h.TokenTTL)); err != nil {
			return fmt.Errorf("wxauth: signing keys: %w", err)
		}
		tokenCfg.Keyring = h.keyring.Keyring
	}
	tokens, err := token.New(ctx, tokenCfg)
	if err != nil {
		return fmt.Errorf("wxauth: signing keys: %w", err)
	}
	client := &wechat.Client{AppID: h.AppID, AppSecret: secret, BaseURL: h.APIBase, Observe: observeWeChat}
	client.Tokens = wechat.NewSharedTokenSource(client.FetchAccessToken, store, prefix+"access-token")
	sealKey, err := auth.DeriveSealKey(secret)
	if err != nil {
		return fmt.Errorf("wxauth: %w", err)
	}
	cfg := auth.Config{
		AppID:     h.AppID,
		WeChat:    client,
		Tokens:    tokens,
		Store:     store,
		KeyPrefix: prefix,
		SealKey:   sealKey,
		TokenTTL:  time.Duration(h.TokenTTL),
		UserTTL:   time.Duration(h.UserTTL),
		CacheTTL:  time.Duration(h.CacheTTL),
		FailOpen:  h.StoreOutage == "fail_open",
	}
	if rl := h.LoginRateLimit; rl != nil {
		cfg.LoginRateLimit, cfg.LoginRateWindow = rl.Requests, time.Duration(rl.Window)
	}
	h.service, err = auth.New(cfg)
	if err != nil {
		return fmt.Errorf("wxauth: %w", err)
	}
	return nil
}

func (h *Handler) setDefaults() {
	if h.APIBase == "" {
		h.APIBase = wechat.DefaultBaseURL
	}
	setDefault(&h.LoginPath, "/wx/login")
	setDefault(&h.PhonePath, "/wx/phone")
	setDefault(&h.ProfilePath, "/wx/profile")
	setDefault(&h.LogoutPath, "/wx/logout")
	if h.TokenTTL == 0 {
		h.TokenTTL = caddy.Duration(defaultTokenTTL)
	}
	if h.Store == nil {
		h.Store = &StoreConfig{Type: "memory"}
	}
	if h.Store.Prefix == "" {
		h.Store.Prefix = "wxauth:"
	}
}

func setDefault(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

// Validate checks the config without side effects.
func (h *Handler) Validate() error { return h.check() }

// check reports the first config mistake; the Caddyfile parser, Provision and
// Validate all use it, so `caddy adapt` and the JSON API say the same thing.
func (h *Handler) check() error {
	switch {
	case h.AppID == "":
		return errors.New("wxauth: app_id is required")
	case h.AppSecret == "":
		return errors.New("wxauth: app_secret is required")
	case h.TokenTTL < 0:
		return fmt.Errorf("wxauth: token_ttl must be positive, got %v", time.Duration(h.TokenTTL))
	case h.UserTTL < 0:
		return fmt.Errorf("wxauth: user_ttl must be positive, got %v", time.Duration(h.UserTTL))
	}
	if h.APIBase != "" {
		u, err := url.Parse(h.APIBase)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("wxauth: api_base must be an http(s) URL, got %q", h.APIBase)
		}
	}
	taken := map[string]string{jwksPath: "the JWKS"}
	for _, e := range []struct{ name, path string }{
		{"login_path", h.LoginPath}, {"phone_path", h.PhonePath}, {"profile_path", h.ProfilePath}, {"logout_path", h.LogoutPath},
	} {
		if e.path == "" {
			continue
		}
		if !strings.HasPrefix(e.path, "/") {
			return fmt.Errorf("wxauth: %s must start with /, got %q", e.name, e.path)
		}
		if other, ok := taken[e.path]; ok {
			return fmt.Errorf("wxauth: %s %q is already %s's path", e.name, e.path, other)
		}
		taken[e.path] = e.name
	}
	switch h.StoreOutage {
	case "", "fail_closed", "fail_open":
	default:
		return fmt.Errorf("wxauth: store_outage must be fail_closed or fail_open, got %q", h.StoreOutage)
	}
	for _, m := range []struct {
		name  string
		paths caddyhttp.MatchPath
	}{{"public", h.Public}, {"require_phone", h.RequirePhone}} {
		for _, p := range m.paths {
			// Caddy's path patterns start with / or are *-patterns (*, *.js);
			// anything else never matches, which for these two is a silent hole.
			if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "*") {
				return fmt.Errorf("wxauth: %s path %q must start with / (or be a *-pattern such as *.js)", m.name, p)
			}
		}
	}
	if rl := h.LoginRateLimit; rl != nil && (rl.Requests <= 0 || rl.Window <= 0) {
		return errors.New("wxauth: login_rate_limit needs a positive count and window")
	}
	if s := h.Store; s != nil {
		switch s.Type {
		case "memory", "":
			if s.URL != "" {
				return errors.New("wxauth: store memory takes no URL")
			}
		case "redis":
			if s.URL == "" {
				return errors.New("wxauth: store redis needs a URL")
			}
		default:
			return fmt.Errorf("wxauth: unknown store %q (memory or redis)", s.Type)
		}
	}
	return nil
}

// plainHTTPWarning is a warning when apiBase sends the AppSecret in clear
// text to another host: plain http:// is for a wxmock on loopback.
func plainHTTPWarning(apiBase string) string {
	u, err := url.Parse(apiBase)
	if err != nil || u.Scheme != "http" {
		return ""
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); host == "localhost" || (err == nil && ip.IsLoopback()) {
		return ""
	}
	return "api_base is plain http:// to a host that is not loopback: the AppSecret and access_token cross the network in clear text"
}

// warnIfEvicting warns when Redis may evict keys under memory pressure: all
// of wxauth's keys have TTLs, so volatile-* and allkeys-* policies may drop
// revocations and phone bindings. Best effort: managed Redis often refuses
// CONFIG GET, and a Redis that is down now is not an error at load.
func warnIfEvicting(ctx caddy.Context, store session.Store, logger *zap.Logger) {
	r, ok := store.(*session.Redis)
	if !ok {
		return
	}
	ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	policy, err := r.EvictionPolicy(ctx2)
	switch {
	case err != nil:
		logger.Debug("could not read Redis maxmemory-policy", zap.Error(err))
	case policy != "noeviction":
		logger.Warn("Redis maxmemory-policy is not noeviction: under memory pressure Redis may evict revocations and phone bindings; set maxmemory-policy noeviction",
			zap.String("maxmemory_policy", policy))
	}
}

// Cleanup releases the store and keyring this handler acquired; Provision
// may have failed before acquiring them.
func (h *Handler) Cleanup() error {
	var errs []error
	if h.keyring != nil {
		errs = append(errs, h.keyring.release())
	}
	if h.store != nil {
		errs = append(errs, h.store.release())
	}
	return errors.Join(errs...)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
