package caddymodule

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/wxauth/caddy-wxauth/auth"
	"github.com/wxauth/caddy-wxauth/token"
)

// ServeHTTP strips client-sent identity, answers wxauth's own endpoints,
// verifies the token and hands the request on with the verified identity.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	h.headers.stripHeaders(r.Header)
	h.headers.stripTrailers(r)

	if serve := h.endpoint(r.URL.Path); serve != nil {
		return serve(w, r)
	}

	public := len(h.Public) > 0 && everyReadingMatches(h.Public, r)
	if public && !h.presentsToken(r) {
		metrics.public.Inc()
		return next.ServeHTTP(w, r)
	}
	id, err := h.authenticate(r)
	if err != nil {
		if public {
			metrics.public.Inc()
			return next.ServeHTTP(w, r)
		}
		metrics.rejected.Inc()
		// Not with two login cookies (one planted for the whole domain): a
		// new login would replace only ours and come back to the same 401.
		if h.LoginRedirect && isPageLoad(r) && errorCode(err) == auth.CodeUnauthorized && len(r.CookiesNamed(h.CookieName)) < 2 {
			return h.redirectToLogin(w, r)
		}
		return h.writeError(w, err)
	}
	if id.Phone == nil && len(h.RequirePhone) > 0 && someReadingMatches(h.RequirePhone, r) {
		metrics.rejected.Inc()
		return h.writeError(w, &auth.Error{Code: auth.CodePhoneRequired, Message: "bind a phone number first"})
	}
	h.account(id.AppID).verified.Inc()
	h.headers.setIdentity(r, id)
	if len(h.webAccounts) > 0 {
		// The answer may be this user's alone: a shared cache must not give
		// it to a browser with another cookie (as it never stores an
		// answer to a request with Authorization).
		w.Header().Add("Vary", "Cookie")
	}
	return next.ServeHTTP(w, r)
}

// presentsToken reports whether the request brings a token at all.
func (h *Handler) presentsToken(r *http.Request) bool {
	return r.Header.Get("Authorization") != "" || h.sentLoginCookie(r)
}

// authenticate verifies the request's token: the Authorization header's
// Bearer token, else — where H5 login is served — the login cookie's.
// A browser sends the cookie with every request to this site, whichever
// page asked for it, so a cookie-authenticated request that may change
// something, or open a WebSocket (a GET that no CORS rule guards), must
// come from a page of this site (403 csrf_failed).
func (h *Handler) authenticate(r *http.Request) (auth.Identity, error) {
	raw, fromCookie, err := h.credential(r)
	if err != nil {
		return auth.Identity{}, err
	}
	if fromCookie && (!isSafeMethod(r.Method) || r.Header.Get("Upgrade") != "") && !sameOrigin(r) {
		return auth.Identity{}, &auth.Error{Code: codeCSRFFailed, Message: "a cookie-authenticated request that changes something must come from a page of this site (Origin or Referer)"}
	}
	acc := h.accounts[0]
	if len(h.accounts) > 1 {
		// The token's unverified aud only routes it: the account's own
		// Verify checks the signature and that aud is its AppID.
		var ok bool
		if acc, ok = h.byAppID[token.Audience(raw)]; !ok {
			return auth.Identity{}, errTokenRequired
		}
	}
	return acc.service.Verify(r.Context(), raw)
}

var errTokenRequired = &auth.Error{Code: auth.CodeUnauthorized, Message: "a valid Bearer token is required"}

// credential is the request's token and whether it came from the cookie.
// Several Authorization headers, or several login cookies (one planted by
// a sibling subdomain, say), are refused: which one counts would be
// ambiguous.
func (h *Handler) credential(r *http.Request) (raw string, fromCookie bool, err error) {
	values := r.Header.Values("Authorization")
	switch {
	case len(values) > 1:
		return "", false, errTokenRequired
	case len(values) == 1:
		scheme, raw, ok := strings.Cut(values[0], " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", false, errTokenRequired
		}
		return strings.TrimSpace(raw), false, nil
	case len(h.webAccounts) > 0:
		if cookies := r.CookiesNamed(h.CookieName); len(cookies) == 1 {
			return cookies[0].Value, true, nil
		}
	}
	return "", false, errTokenRequired
}
