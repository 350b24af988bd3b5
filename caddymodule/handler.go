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
	if public && r.Header.Get("Authorization") == "" {
		metrics.public.Inc()
		return next.ServeHTTP(w, r)
	}
	id, err := h.verify(r)
	if err != nil {
		if public {
			metrics.public.Inc()
			return next.ServeHTTP(w, r)
		}
		metrics.rejected.Inc()
		return h.writeError(w, err)
	}
	if id.Phone == nil && len(h.RequirePhone) > 0 && someReadingMatches(h.RequirePhone, r) {
		metrics.rejected.Inc()
		return h.writeError(w, &auth.Error{Code: auth.CodePhoneRequired, Message: "bind a phone number first"})
	}
	h.account(id.AppID).verified.Inc()
	h.headers.setIdentity(r, id)
	return next.ServeHTTP(w, r)
}

// verify checks the request's Bearer token. A request with several
// Authorization headers is refused: which one counts would be ambiguous.
func (h *Handler) verify(r *http.Request) (auth.Identity, error) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return auth.Identity{}, &auth.Error{Code: auth.CodeUnauthorized, Message: "a valid Bearer token is required"}
	}
	scheme, raw, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return auth.Identity{}, &auth.Error{Code: auth.CodeUnauthorized, Message: "a valid Bearer token is required"}
	}
	raw = strings.TrimSpace(raw)
	acc := h.miniPrograms[0]
	if len(h.miniPrograms) > 1 {
		// The token's unverified aud only routes it: the account's own
		// Verify checks the signature and that aud is its AppID.
		var ok bool
		if acc, ok = h.byAppID[token.Audience(raw)]; !ok {
			return auth.Identity{}, &auth.Error{Code: auth.CodeUnauthorized, Message: "a valid Bearer token is required"}
		}
	}
	return acc.service.Verify(r.Context(), raw)
}
