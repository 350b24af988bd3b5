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
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/wxauth/caddy-wxauth/auth"
	"github.com/wxauth/caddy-wxauth/session"
	"github.com/wxauth/caddy-wxauth/wechat"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler puts WeChat login in front of the handlers after it: mini
// programs log in with wx.login codes, official-account H5 pages and
// websites through WeChat's authorize pages and a cookie. It answers the
// login, phone, profile, logout, H5 login and JWKS endpoints itself; every
// other request must carry a valid token — an `Authorization: Bearer`
// header, else the login cookie — and goes on with the user's identity in
// the `X-OpenID`, `X-UnionID`, `X-Phone`, `X-Phone-Country-Code` and
// `X-AppID` headers and the `{wx.openid}`, `{wx.unionid}`, `{wx.phone}`,
// `{wx.appid}` and `{http.auth.user.id}` placeholders. Identity headers sent
// by the client are always removed first.
//
// Its accounts are accounts of the wxauth app: those named in Apps (by
// default every account of the global `wxauth` block), or the one mini
// program the inline form defines with AppID, AppSecret and the Settings.
type Handler struct {
	// Accounts of the global wxauth block served here, by name. Default:
	// every account of the block. Not with the inline form.
	Apps []string `json:"apps,omitempty"`

	// The inline form: one mini program's AppID and AppSecret, with the
	// Settings below. `{env.*}` and `{file.*}` placeholders in the secret
	// are resolved when the config loads, so the secret need not appear in
	// the config; it never appears in a response or a log.
	AppID     string `json:"app_id,omitempty"`
	AppSecret string `json:"app_secret,omitempty"`
	Settings

	// Paths of the endpoints the handler answers itself. Defaults:
	// /wx/login, /wx/phone, /wx/profile, /wx/logout. The JWKS is served at
	// /wx/.well-known/jwks.json.
	LoginPath   string `json:"login_path,omitempty"`
	PhonePath   string `json:"phone_path,omitempty"`
	ProfilePath string `json:"profile_path,omitempty"`
	LogoutPath  string `json:"logout_path,omitempty"`

	// Limits logins per client address (an IPv4 address or an IPv6 /64).
	// Off when absent.
	LoginRateLimit *RateLimit `json:"login_rate_limit,omitempty"`

	// Requests matching these paths need no token: they go on without
	// identity headers, or with them when a valid token is present.
	Public caddyhttp.MatchPath `json:"public,omitempty"`
	// Requests matching these paths are refused with 403 phone_required
	// unless the user has bound a phone number.
	RequirePhone caddyhttp.MatchPath `json:"require_phone,omitempty"`

	// Which headers carry the identity to the upstream: the default profile
	// (X-OpenID, X-UnionID, X-Phone, X-Phone-Country-Code, X-AppID), WeChat
	// Cloud Run's names, or names of your own. Whatever the profile, every
	// name of both profiles and of the custom names is stripped from what
	// the client sent.
	Headers *HeaderProfile `json:"headers,omitempty"`

	// H5 login, for the official accounts and websites served here. The
	// user's browser goes to OAuthPath (default /wx/oauth, with
	// ?return_to=<path on this site>), is sent to WeChat's authorize page
	// and comes back to OAuthCallbackPath (default /wx/oauth/callback) —
	// register this site's host as the account's authorization callback
	// domain in WeChat's console. The token is then kept in an HttpOnly,
	// Secure, SameSite=Lax cookie named CookieName (default wxauth), so H5
	// login needs https (or http://localhost while developing).
	OAuthPath         string `json:"oauth_path,omitempty"`
	OAuthCallbackPath string `json:"oauth_callback_path,omitempty"`
	// What an official account's page asks for: snsapi_base (default; the
	// openid, without asking the user) or snsapi_userinfo (the user
	// consents; WeChat then tells the unionid too, if the account is bound
	// to an open platform). A website always asks for snsapi_login.
	OAuthScope string `json:"oauth_scope,omitempty"`
	// The absolute callback URL WeChat sends users back to. Default: this
	// request's scheme and host (a trusted proxy's X-Forwarded-Proto and
	// X-Forwarded-Host when Caddy's trusted_proxies names it) with
	// OAuthCallbackPath. Set it when a proxy in front changes the URL.
	OAuthRedirectURL string `json:"oauth_redirect_url,omitempty"`
	CookieName       string `json:"cookie_name,omitempty"`
	// Send page loads without a valid token (GET or HEAD whose Accept names
	// text/html) to OAuthPath to log in, instead of answering 401. API
	// calls still get the 401 JSON answer.
	LoginRedirect bool `json:"login_redirect,omitempty"`

	// Log users' openids in the login, phone, profile and logout log lines.
	// Default false: openids are personal data, so logs carry a short hash
	// that tells users apart without naming them.
	LogOpenIDs bool `json:"log_openids,omitempty"`

	// app is the wxauth app, found by Provision; a test that provisions a
	// handler without a Caddy config sets it first.
	app *App
	// accounts are the accounts served here, in the order configured;
	// byAppID finds a token's. miniPrograms log in at LoginPath,
	// webAccounts (official accounts and websites) at OAuthPath.
	accounts     []*account
	byAppID      map[string]*account
	miniPrograms []*account
	webAccounts  []*account
	oauthBase    string
	limiter      *auth.LoginLimiter
	headers      *headerRules
	logger       *zap.Logger
	// credentialsRefused is logged once per config: the first-login 502
	// that a wrong app_id or app_secret causes.
	credentialsRefused *sync.Once
}

// RateLimit allows Requests per Window.
type RateLimit struct {
	Requests int            `json:"requests,omitempty"`
	Window   caddy.Duration `json:"window,omitempty"`
}

const jwksPath = "/wx/.well-known/jwks.json"

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wxauth",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision takes the handler's accounts from the wxauth app.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.credentialsRefused = new(sync.Once)
	if err := initMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("wxauth: metrics: %w", err)
	}
	setDefault(&h.LoginPath, "/wx/login")
	setDefault(&h.PhonePath, "/wx/phone")
	setDefault(&h.ProfilePath, "/wx/profile")
	setDefault(&h.LogoutPath, "/wx/logout")
	// Noted before the defaults fill them in: H5 login settings on a
	// handler without an official account or website are a mistake.
	webSettings := h.LoginRedirect || h.OAuthPath != "" || h.OAuthCallbackPath != "" || h.OAuthScope != "" || h.OAuthRedirectURL != "" || h.CookieName != ""
	setDefault(&h.OAuthPath, "/wx/oauth")
	setDefault(&h.OAuthCallbackPath, "/wx/oauth/callback")
	setDefault(&h.OAuthScope, wechat.ScopeBase)
	setDefault(&h.CookieName, "wxauth")
	if err := h.check(); err != nil {
		return err
	}
	var err error
	if h.headers, err = h.Headers.provision(); err != nil {
		return err
	}
	for _, m := range []caddyhttp.MatchPath{h.Public, h.RequirePhone} {
		if err := m.Provision(ctx); err != nil {
			return fmt.Errorf("wxauth: path matcher: %w", err)
		}
	}
	app := h.app
	if app == nil {
		if app, err = wxauthApp(ctx); err != nil {
			return err
		}
	}
	if h.AppID != "" {
		acc, err := app.inlineMiniProgram(h.Settings, h.AppID, h.AppSecret)
		if err != nil {
			return err
		}
		h.accounts = []*account{acc}
	} else if h.accounts, err = app.named(h.Apps); err != nil {
		return err
	}
	if len(h.accounts) == 0 {
		return errors.New("wxauth: no account to serve: set app_id and app_secret, or define accounts in the global wxauth block")
	}
	h.byAppID = make(map[string]*account, len(h.accounts))
	for _, acc := range h.accounts {
		h.byAppID[acc.appID] = acc
		if acc.kind == kindMiniProgram {
			h.miniPrograms = append(h.miniPrograms, acc)
		} else {
			h.webAccounts = append(h.webAccounts, acc)
		}
	}
	if webSettings && len(h.webAccounts) == 0 {
		return errors.New("wxauth: H5 login (login_redirect, oauth_*, cookie_name) needs an official_account or website account among the handler's apps")
	}
	h.oauthBase = app.OAuthBase
	if rl := h.LoginRateLimit; rl != nil {
		first := h.accounts[0]
		h.limiter = &auth.LoginLimiter{Store: first.store, KeyPrefix: first.prefix, Limit: rl.Requests, Window: time.Duration(rl.Window)}
	}
	return nil
}

// wxauthApp is the config's wxauth app: the global block's, or an empty one
// that holds the inline forms' mini programs (as Caddy's pki app makes its
// "local" CA when none is configured).
func wxauthApp(ctx caddy.Context) (*App, error) {
	app, err := ctx.AppIfConfigured("wxauth")
	switch {
	case err == nil:
		return app.(*App), nil
	case !errors.Is(err, caddy.ErrNotConfigured):
		return nil, fmt.Errorf("wxauth: loading the wxauth app: %w", err)
	}
	if app, err = ctx.App("wxauth"); err != nil {
		return nil, fmt.Errorf("wxauth: loading the wxauth app: %w", err)
	}
	return app.(*App), nil
}

// account is the handler's account of appID, which a verified identity
// always names.
func (h *Handler) account(appID string) *account {
	if len(h.accounts) == 1 {
		return h.accounts[0]
	}
	return h.byAppID[appID]
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
	inline := h.AppID != "" || h.AppSecret != "" || !h.Settings.isZero()
	switch {
	case len(h.Apps) > 0 && inline:
		return errors.New("wxauth: use either apps (accounts of the global wxauth block) or the inline app_id/app_secret form, not both")
	case inline && h.AppID == "":
		return errors.New("wxauth: app_id is required")
	case inline && h.AppSecret == "":
		return errors.New("wxauth: app_secret is required")
	}
	if err := h.Settings.check(); err != nil {
		return err
	}
	if err := h.Headers.check(); err != nil {
		return err
	}
	switch h.OAuthScope {
	case "", wechat.ScopeBase, wechat.ScopeUserInfo:
	default:
		return fmt.Errorf("wxauth: oauth_scope must be snsapi_base or snsapi_userinfo, got %q (a website always uses snsapi_login)", h.OAuthScope)
	}
	if u := h.OAuthRedirectURL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return fmt.Errorf("wxauth: oauth_redirect_url must be an absolute http(s) URL, got %q", u)
		}
	}
	if !validCookieName(h.CookieName) {
		return fmt.Errorf("wxauth: cookie_name %q is not a valid cookie name", h.CookieName)
	}
	taken := map[string]string{jwksPath: "the JWKS"}
	for _, e := range []struct{ name, path string }{
		{"login_path", h.LoginPath}, {"phone_path", h.PhonePath}, {"profile_path", h.ProfilePath}, {"logout_path", h.LogoutPath},
		{"oauth_path", h.OAuthPath}, {"oauth_callback_path", h.OAuthCallbackPath},
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

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
