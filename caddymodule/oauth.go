package caddymodule

import (
	"cmp"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/wxauth/caddy-wxauth/auth"
	"github.com/wxauth/caddy-wxauth/wechat"
)

// H5 login: GET OAuthPath?return_to=&appid= sends the browser to WeChat's
// authorize page with a state bound to it by a cookie; WeChat sends it back
// to OAuthCallbackPath?code=&state=, which checks the state first, logs the
// user in and sends them on to return_to with the token in a cookie.

func (h *Handler) serveOAuth(w http.ResponseWriter, r *http.Request) error {
	return h.serveEndpoint(w, r, "oauth", func(w http.ResponseWriter, r *http.Request, ev *event) (any, error) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return nil, methodNotAllowed(w, "GET, HEAD")
		}
		q, err := singleValues(r.URL.Query(), "return_to", "appid")
		if err != nil {
			return nil, err
		}
		acc, err := h.webAccount(r, q["appid"])
		if err != nil {
			return nil, err
		}
		ev.appID = acc.appID
		start, err := acc.service.StartWebLogin(q["return_to"])
		if err != nil {
			return nil, err
		}
		callback := h.redirectURI(r)
		http.SetCookie(w, h.stateCookie(start.Cookie, int(auth.WebStateTTL.Seconds())))
		scope := h.OAuthScope
		if acc.kind == kindWebsite {
			scope = wechat.ScopeLogin
		}
		return redirect(wechat.AuthorizeURL(h.oauthBase, acc.appID, callback, scope, start.State)), nil
	})
}

func (h *Handler) serveOAuthCallback(w http.ResponseWriter, r *http.Request) error {
	return h.serveEndpoint(w, r, "oauth_callback", func(w http.ResponseWriter, r *http.Request, ev *event) (any, error) {
		if r.Method != http.MethodGet {
			return nil, methodNotAllowed(w, http.MethodGet)
		}
		// The state cookie serves one callback, whatever its outcome.
		http.SetCookie(w, h.stateCookie("", -1))
		q, err := singleValues(r.URL.Query(), "state", "code")
		if err != nil {
			return nil, err
		}
		var cookie string
		if cookies := r.CookiesNamed(h.stateCookieName()); len(cookies) == 1 {
			cookie = cookies[0].Value
		}
		// The cookie's AppID only routes: that account's key must have signed it.
		acc, ok := h.byAppID[auth.WebStateAppID(cookie)]
		if !ok || acc.kind == kindMiniProgram {
			return nil, invalidRequest("this login link is not the one this browser started, or it has expired: start again")
		}
		ev.appID = acc.appID
		if h.limiter != nil {
			// Counted only once the state is genuine: a made-up one costs
			// no store write.
			if err := acc.service.CheckWebState(cookie, q["state"]); err != nil {
				return nil, err
			}
			if err := h.limiter.Allow(r.Context(), clientIP(r)); err != nil {
				return nil, err
			}
		}
		login, err := acc.service.FinishWebLogin(r.Context(), cookie, q["state"], q["code"])
		if err != nil {
			return nil, err
		}
		ev.openid = login.OpenID
		if callback := h.redirectURI(r); strings.HasPrefix(callback, "http://") && !isLocalhost(r.Host) {
			h.logger.Warn("H5 login over plain http: browsers drop the Secure login cookie, so users will be sent to log in again; serve this site over https", zap.String("callback", callback))
		}
		http.SetCookie(w, h.loginCookie(login.Token, int(login.ExpiresIn)))
		// The empty fragment is not decoration: a browser keeps a URL's
		// fragment across redirects whose Location has none, so without it
		// the page would open at return_to#wechat_redirect, the authorize
		// URL's, which hash-routed H5 apps read as a route.
		return redirect(login.ReturnTo + "#"), nil
	})
}

// webAccount picks the official account or website a login is for: the
// appid asked for, else the handler's only one; with one of each, the
// official account inside WeChat's browser (its page logs the user in
// there without a QR code) and the website elsewhere.
func (h *Handler) webAccount(r *http.Request, appID string) (*account, error) {
	if appID != "" {
		if acc, ok := h.byAppID[appID]; ok && acc.kind != kindMiniProgram {
			return acc, nil
		}
		return nil, invalidRequest(fmt.Sprintf("appid %q is not an official account or website served here", appID))
	}
	if len(h.webAccounts) == 1 {
		return h.webAccounts[0], nil
	}
	if len(h.webAccounts) == 2 && h.webAccounts[0].kind != h.webAccounts[1].kind {
		inWeChat := strings.Contains(r.UserAgent(), "MicroMessenger")
		for _, acc := range h.webAccounts {
			if (acc.kind == kindOfficialAccount) == inWeChat {
				return acc, nil
			}
		}
	}
	return nil, invalidRequest(`appid required: several official accounts or websites log in here; add "appid"`)
}

// redirectURI is the absolute URL of the callback as the browser reaches
// it: oauth_redirect_url, else the request's scheme and host with the
// callback path.
func (h *Handler) redirectURI(r *http.Request) string {
	if h.OAuthRedirectURL != "" {
		return h.OAuthRedirectURL
	}
	scheme, host := requestOrigin(r)
	return scheme + "://" + host + h.OAuthCallbackPath
}

// requestOrigin is the scheme and host the browser used: Caddy's view, or
// behind a TLS-terminating proxy that Caddy's trusted_proxies names, the
// proxy's X-Forwarded-Proto and X-Forwarded-Host. Nobody else's headers
// count: they would let a client choose where WeChat sends the code.
func requestOrigin(r *http.Request) (scheme, host string) {
	scheme, host = "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); !trusted {
		return scheme, host
	}
	if p := lastForwarded(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
		scheme = p
	}
	if fh := lastForwarded(r.Header.Get("X-Forwarded-Host")); fh != "" {
		if u, err := url.Parse("//" + fh); err == nil && u.Host == fh && u.User == nil && u.Path == "" {
			host = fh
		}
	}
	return scheme, host
}

// lastForwarded is the last entry of a forwarding header: the one the
// trusted proxy in front of Caddy wrote, where a proxy that appends leaves
// the client's own entries before it.
func lastForwarded(v string) string {
	return strings.TrimSpace(v[strings.LastIndexByte(v, ',')+1:])
}

// sameOrigin reports whether a cookie-authenticated request comes from a
// page of its own site: its Origin, or without one its Referer, names the
// host and port the browser addressed (the Host, or a trusted proxy's
// X-Forwarded-Host). The login cookie is Secure, so the browser sent it to
// an https page (or to localhost while developing): a plain-http page of
// the same host is anyone's on the network path and does not count, even
// where Caddy, behind a TLS-terminating proxy, sees plain http itself. A
// Host without a port accepts only the default port of the page's scheme.
func sameOrigin(r *http.Request) bool {
	source := r.Header.Get("Origin")
	if source == "" {
		source = r.Header.Get("Referer")
	}
	u, err := url.Parse(source)
	if err != nil || u.Host == "" || (u.Scheme != "https" && (u.Scheme != "http" || !isLocalhost(u.Host))) {
		return false // also "null", an opaque origin
	}
	port := u.Port()
	defaultPort := map[string]string{"http": "80", "https": "443"}[u.Scheme]
	_, addressed := requestOrigin(r)
	host, hostPort, err := net.SplitHostPort(addressed)
	if err != nil {
		host, hostPort = addressed, ""
	}
	if !strings.EqualFold(strings.Trim(host, "[]"), u.Hostname()) {
		return false
	}
	if hostPort == "" {
		return port == "" || port == defaultPort
	}
	return cmp.Or(port, defaultPort) == hostPort
}

func isSafeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// isPageLoad tells a browser loading a page from an API call.
func isPageLoad(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// redirectToLogin sends a page load to log in and come back.
func (h *Handler) redirectToLogin(w http.ResponseWriter, r *http.Request) error {
	writeRedirect(w, h.OAuthPath+"?return_to="+url.QueryEscape(r.URL.RequestURI()))
	return nil
}

// loginCookie holds the token (maxAge < 0 clears it). Secure and HttpOnly
// keep it from the network and the page's scripts; SameSite=Lax keeps it
// off other sites' subrequests and forms while a link from elsewhere (and
// WeChat's redirect) still arrives logged in.
func (h *Handler) loginCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: h.CookieName, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode}
}

// sentLoginCookie reports whether the request carries the login cookie.
func (h *Handler) sentLoginCookie(r *http.Request) bool {
	return len(h.webAccounts) > 0 && len(r.CookiesNamed(h.CookieName)) > 0
}

// stateCookieName is __Host- prefixed: the browser then accepts it only
// from this very host, so a sibling subdomain (or anyone who can answer
// for one over plain http) cannot plant a state of their own and log the
// user in as themselves.
func (h *Handler) stateCookieName() string {
	return "__Host-" + strings.TrimPrefix(h.CookieName, "__Host-") + "_state"
}

// stateCookie binds a login's state to the browser. It must come back on
// WeChat's redirect from another site, so it is SameSite=Lax, never
// Strict; __Host- requires Path=/.
func (h *Handler) stateCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: h.stateCookieName(), Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode}
}

// singleValues reads the named query parameters; one given twice is
// refused, as which one counts would be ambiguous.
func singleValues(q url.Values, names ...string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	for _, name := range names {
		if len(q[name]) > 1 {
			return nil, invalidRequest(fmt.Sprintf("%q is given more than once", name))
		}
		out[name] = q.Get(name)
	}
	return out, nil
}

// isLocalhost reports whether host (with or without a port) is this
// machine, where browsers keep Secure cookies over plain http.
func isLocalhost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.IsLoopback()
	}
	return strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost")
}

// validCookieName reports whether name is a cookie name (an RFC 9110
// token); "" is the default.
func validCookieName(name string) bool {
	for _, c := range name {
		if c > 0x7e || c <= 0x20 || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}
