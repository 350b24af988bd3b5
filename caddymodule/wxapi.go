package caddymodule

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/wxauth/caddy-wxauth/wxapi"
)

func init() {
	caddy.RegisterModule(WxAPI{})
}

// WxAPI lets backends call WeChat's server APIs through Caddy with no
// AppSecret and no access_token: a request for /<path>?<query> goes to
// WeChat's /<path>?<query> with the deployment's shared access_token put in
// (a caller's access_token or cloudbase_access_token is replaced), and
// WeChat's answer comes back as it was. A legacy backend that fetches its
// own token through cgi-bin/token or cgi-bin/stable_token is answered from
// the shared one. Serve it on an internal listener only.
type WxAPI struct {
	// The account of the global wxauth block whose access_token is used.
	// Or the inline form: AppID, AppSecret and the Settings.
	App string `json:"app,omitempty"`
	// Further accounts of the block, callable with ?from_appid=<appid>.
	Apps []string `json:"apps,omitempty"`

	AppID     string `json:"app_id,omitempty"`
	AppSecret string `json:"app_secret,omitempty"`
	Settings

	// WeChat API paths that may be called, as Caddy path matchers
	// (/wxa/msg_sec_check, /cgi-bin/message/*). Default: all. Others are
	// refused with errcode 85107. The metrics label calls by the entry they
	// matched, so labels stay bounded.
	Allow caddyhttp.MatchPath `json:"allow,omitempty"`
	// Networks that may call, as CIDRs; the peer address is checked, not a
	// forwarded one. Default: loopback and the private ranges (127.0.0.0/8
	// ::1/128 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7) — defence
	// in depth: whoever reaches wxapi acts as your app.
	AllowFrom []string `json:"allow_from,omitempty"`
	// The largest request body, kept for the retry after a refused token.
	// Default: 10MiB. Larger bodies are refused with errcode 44002.
	MaxBody int64 `json:"max_body,omitempty"`

	// app is the wxauth app, found by Provision; tests may set it first.
	app       *App
	proxy     *wxapi.Proxy
	allowEach []caddyhttp.MatchPath // one matcher per Allow entry, for its label
	allowFrom []netip.Prefix
	logger    *zap.Logger
}

var defaultAllowFrom = []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}

const defaultMaxBody = 10 << 20

// CaddyModule returns the Caddy module information.
func (WxAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.wxapi", New: func() caddy.Module { return new(WxAPI) }}
}

// Provision takes the accounts from the wxauth app and builds the proxy.
func (h *WxAPI) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := initMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("wxapi: metrics: %w", err)
	}
	if err := h.Validate(); err != nil {
		return err
	}
	h.allowEach = nil
	for _, p := range h.Allow {
		m := caddyhttp.MatchPath{p}
		if err := m.Provision(ctx); err != nil {
			return fmt.Errorf("wxapi: allow: %w", err)
		}
		h.allowEach = append(h.allowEach, m)
	}
	h.allowFrom = nil
	cidrs := h.AllowFrom
	if len(cidrs) == 0 {
		cidrs = defaultAllowFrom
	}
	for _, c := range cidrs {
		prefix, _ := netip.ParsePrefix(c) // checked by Validate
		h.allowFrom = append(h.allowFrom, prefix.Masked())
	}
	app := h.app
	if app == nil {
		var err error
		if app, err = wxauthApp(ctx); err != nil {
			return err
		}
	}
	var accounts []*account
	if h.AppID != "" {
		acc, err := app.inlineMiniProgram(h.Settings, h.AppID, h.AppSecret)
		if err != nil {
			return err
		}
		accounts = append(accounts, acc)
	} else {
		first, err := app.named([]string{h.App})
		if err != nil {
			return err
		}
		accounts = append(accounts, first...)
	}
	if len(h.Apps) > 0 {
		more, err := app.named(h.Apps)
		if err != nil {
			return err
		}
		accounts = append(accounts, more...)
	}
	h.proxy = &wxapi.Proxy{HTTPClient: wxapiClient, MaxBody: h.MaxBody}
	if h.proxy.MaxBody == 0 {
		h.proxy.MaxBody = defaultMaxBody
	}
	for _, acc := range accounts {
		h.proxy.Accounts = append(h.proxy.Accounts, &wxapi.Account{AppID: acc.appID, BaseURL: acc.settings.APIBase, AppSecret: acc.secret, Tokens: acc.tokens})
	}
	return nil
}

// wxapiClient follows no redirect (it would carry the access_token away)
// and bounds each call; answers such as media stream through.
var wxapiClient = &http.Client{
	Timeout:       60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Validate checks the config without side effects.
func (h *WxAPI) Validate() error {
	inline := h.AppID != "" || h.AppSecret != "" || !h.Settings.isZero()
	switch {
	case h.App != "" && inline:
		return errors.New("wxapi: use either app (an account of the global wxauth block) or the inline app_id/app_secret form, not both")
	case h.App == "" && !inline:
		return errors.New("wxapi: name the account: app <name>, or app_id and app_secret")
	case inline && h.AppID == "":
		return errors.New("wxapi: app_id is required")
	case inline && h.AppSecret == "":
		return errors.New("wxapi: app_secret is required")
	case h.MaxBody < 0:
		return fmt.Errorf("wxapi: max_body must be positive, got %d", h.MaxBody)
	}
	if err := h.Settings.check(); err != nil {
		return err
	}
	for _, c := range h.AllowFrom {
		if _, err := netip.ParsePrefix(c); err != nil {
			return fmt.Errorf("wxapi: allow_from %q is not a CIDR such as 10.0.0.0/8: %w", c, err)
		}
	}
	for _, p := range h.Allow {
		if len(p) == 0 || p[0] != '/' {
			return fmt.Errorf("wxapi: allow path %q must start with /", p)
		}
	}
	return nil
}

// ServeHTTP checks who calls and what, then forwards the call.
func (h *WxAPI) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	start := time.Now()
	path := h.pathLabel(r)
	var call wxapi.Call
	switch {
	case !h.peerAllowed(r.RemoteAddr):
		wxapi.Refuse(w, http.StatusForbidden, 40164, "invalid ip "+peerIP(r.RemoteAddr)+", not in wxapi allow_from")
		call = wxapi.Call{Outcome: "refused", Err: errors.New("peer not in allow_from")}
	case path == "":
		wxapi.Refuse(w, http.StatusForbidden, 85107, "api not in wxapi allow list")
		call = wxapi.Call{Outcome: "refused", Err: errors.New("path not in allow")}
		path = "other"
	default:
		call = h.proxy.ServeHTTP(w, r)
	}
	took := time.Since(start)
	metrics.apiCalls.WithLabelValues(call.AppID, path, call.Outcome).Inc()
	metrics.apiLatency.WithLabelValues(call.AppID, path).Observe(took.Seconds())
	fields := []zap.Field{zap.String("app_id", call.AppID), zap.String("path", r.URL.Path), zap.String("outcome", call.Outcome),
		zap.Bool("retried", call.Retried), zap.Duration("duration", took)}
	if call.Err != nil {
		fields = append(fields, zap.Error(call.Err))
	}
	if call.Outcome == "unreachable" {
		h.logger.Error("WeChat API call failed", fields...)
	} else if ce := h.logger.Check(zap.DebugLevel, "WeChat API call"); ce != nil {
		ce.Write(fields...)
	}
	return nil
}

// pathLabel is the allow entry r's path matches ("other" with no allow
// list), or "" when the path is not allowed.
func (h *WxAPI) pathLabel(r *http.Request) string {
	if len(h.allowEach) == 0 {
		return "other"
	}
	for i, m := range h.allowEach {
		if m.Match(r) {
			return h.Allow[i]
		}
	}
	return ""
}

func (h *WxAPI) peerAllowed(remoteAddr string) bool {
	ip, err := netip.ParseAddr(peerIP(remoteAddr))
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range h.allowFrom {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func peerIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// Interface guards
var (
	_ caddy.Provisioner           = (*WxAPI)(nil)
	_ caddy.Validator             = (*WxAPI)(nil)
	_ caddyhttp.MiddlewareHandler = (*WxAPI)(nil)
)
