package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/wxauth/caddy-wxauth/auth"
)

// maxBodyBytes bounds request bodies of the endpoints (64 KiB, as the README says).
const maxBodyBytes = 64 << 10

// endpoint returns the handler of the wxauth endpoint at path, or nil.
func (h *Handler) endpoint(path string) func(http.ResponseWriter, *http.Request) error {
	switch path {
	case h.LoginPath:
		return h.serveLogin
	case h.PhonePath:
		return h.servePhone
	case h.ProfilePath:
		return h.serveProfile
	case h.LogoutPath:
		return h.serveLogout
	case jwksPath:
		return h.serveJWKS
	}
	if len(h.webAccounts) > 0 {
		switch path {
		case h.OAuthPath:
			return h.serveOAuth
		case h.OAuthCallbackPath:
			return h.serveOAuthCallback
		}
	}
	return nil
}

// event describes one call of an endpoint for the log line and metrics.
type event struct {
	name   string // login, phone, profile, logout, oauth, oauth_callback
	method string // phone only: code or encrypted_data
	appID  string // once known
	openid string // once known
}

// endpointFunc does an endpoint's work; a nil body answers 204, a
// redirect 302.
type endpointFunc func(w http.ResponseWriter, r *http.Request, ev *event) (body any, err error)

// redirect is an endpoint's answer that sends the browser to a URL.
type redirect string

// serveEndpoint runs fn, answers its result or error, and records
// the event: one log line and the metrics.
func (h *Handler) serveEndpoint(w http.ResponseWriter, r *http.Request, name string, fn endpointFunc) error {
	start := time.Now()
	ev := event{name: name}
	body, err := fn(w, r, &ev)
	h.record(ev, errorCode(err), time.Since(start))
	switch {
	case err != nil:
		return h.writeError(w, err)
	case body == nil:
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if to, ok := body.(redirect); ok {
		writeRedirect(w, string(to))
		return nil
	}
	return writeJSON(w, http.StatusOK, body)
}

// writeRedirect sends the browser to location, an answer no cache keeps.
func writeRedirect(w http.ResponseWriter, location string) {
	w.Header().Set("Location", location)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}

func (h *Handler) serveLogin(w http.ResponseWriter, r *http.Request) error {
	return h.serveEndpoint(w, r, "login", func(w http.ResponseWriter, r *http.Request, ev *event) (any, error) {
		var req struct {
			Code  string `json:"code"`
			AppID string `json:"appid"`
		}
		if err := readBody(w, r, &req); err != nil {
			return nil, err
		}
		acc, err := h.loginAccount(r, req.AppID)
		if err != nil {
			return nil, err
		}
		ev.appID = acc.appID
		if h.limiter != nil {
			if err := h.limiter.Allow(r.Context(), clientIP(r)); err != nil {
				return nil, err
			}
		}
		login, err := acc.service.Login(r.Context(), req.Code)
		if err != nil {
			return nil, err
		}
		ev.openid = login.OpenID
		return login, nil
	})
}

// loginAccount picks the mini program a login is for: the body's appid,
// else the one a mini program's Referer names, else the handler's only one.
// The Referer only chooses which AppID redeems the code: a wrong choice fails
// at WeChat, so it grants nothing.
func (h *Handler) loginAccount(r *http.Request, appID string) (*account, error) {
	if appID != "" {
		if acc, ok := h.byAppID[appID]; ok && acc.kind == kindMiniProgram {
			return acc, nil
		}
		return nil, invalidRequest(fmt.Sprintf("appid %q is not a mini program served here", appID))
	}
	if acc, ok := h.byAppID[refererAppID(r.Header.Get("Referer"))]; ok && acc.kind == kindMiniProgram {
		return acc, nil
	}
	switch len(h.miniPrograms) {
	case 0:
		return nil, invalidRequest("no mini program logs in here: official accounts and websites log in at " + h.OAuthPath)
	case 1:
		return h.miniPrograms[0], nil
	}
	return nil, invalidRequest(`appid required: this endpoint serves several mini programs; send "appid"`)
}

// refererAppID is the AppID in a mini program's Referer,
// https://servicewechat.com/<appid>/<version>/page-frame.html, or "".
func refererAppID(referer string) string {
	rest, ok := strings.CutPrefix(referer, "https://servicewechat.com/")
	if !ok {
		return ""
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] != "page-frame.html" {
		return ""
	}
	return parts[0]
}

// readForUser decodes the body into req and verifies the token: how the
// endpoints that bind something to a mini program user start. It returns
// the user and their account's service.
func (h *Handler) readForUser(w http.ResponseWriter, r *http.Request, req any, ev *event) (auth.Identity, *auth.Service, error) {
	if err := readBody(w, r, req); err != nil {
		return auth.Identity{}, nil, err
	}
	id, acc, err := h.verifyForEndpoint(r, ev)
	if err != nil {
		return auth.Identity{}, nil, err
	}
	if acc.kind != kindMiniProgram {
		// WeChat hands phone numbers and profiles to mini programs only.
		return auth.Identity{}, nil, invalidRequest("phone numbers and profiles are bound through a mini program; this token is an H5 login's")
	}
	return id, acc.service, nil
}

// verifyForEndpoint verifies the token of a request to one of the
// endpoints and notes whose it is.
func (h *Handler) verifyForEndpoint(r *http.Request, ev *event) (auth.Identity, *account, error) {
	id, err := h.authenticate(r)
	if err != nil {
		return auth.Identity{}, nil, err
	}
	ev.appID, ev.openid = id.AppID, id.OpenID
	return id, h.account(id.AppID), nil
}

// phoneRequest accepts the new getPhoneNumber code, or legacy encrypted data
// under either the snake_case or WeChat's camelCase name.
type phoneRequest struct {
	Code               string `json:"code"`
	EncryptedData      string `json:"encrypted_data"`
	EncryptedDataCamel string `json:"encryptedData"`
	IV                 string `json:"iv"`
}

func (h *Handler) servePhone(w http.ResponseWriter, r *http.Request) error {
	return h.serveEndpoint(w, r, "phone", func(w http.ResponseWriter, r *http.Request, ev *event) (any, error) {
		var req phoneRequest
		id, svc, err := h.readForUser(w, r, &req, ev)
		if err != nil {
			return nil, err
		}
		data := firstNonEmpty(req.EncryptedData, req.EncryptedDataCamel)
		switch {
		case req.Code != "":
			ev.method = "code"
			return svc.PhoneByCode(r.Context(), id, req.Code)
		case data != "" && req.IV != "":
			ev.method = "encrypted_data"
			return svc.PhoneByEncryptedData(r.Context(), id, data, req.IV)
		}
		return nil, invalidRequest(`send "code", or "encrypted_data" and "iv"`)
	})
}

type profileRequest struct {
	RawData            string `json:"raw_data"`
	RawDataCamel       string `json:"rawData"`
	Signature          string `json:"signature"`
	EncryptedData      string `json:"encrypted_data"`
	EncryptedDataCamel string `json:"encryptedData"`
	IV                 string `json:"iv"`
}

func (h *Handler) serveProfile(w http.ResponseWriter, r *http.Request) error {
	return h.serveEndpoint(w, r, "profile", func(w http.ResponseWriter, r *http.Request, ev *event) (any, error) {
		var req profileRequest
		id, svc, err := h.readForUser(w, r, &req, ev)
		if err != nil {
			return nil, err
		}
		raw, data := firstNonEmpty(req.RawData, req.RawDataCamel), firstNonEmpty(req.EncryptedData, req.EncryptedDataCamel)
		if raw == "" || req.Signature == "" || data == "" || req.IV == "" {
			return nil, invalidRequest(`"raw_data", "signature", "encrypted_data" and "iv" are required`)
		}
		return svc.Profile(r.Context(), id, raw, req.Signature, data, req.IV)
	})
}

func (h *Handler) serveLogout(w http.ResponseWriter, r *http.Request) error {
	return h.serveEndpoint(w, r, "logout", func(w http.ResponseWriter, r *http.Request, ev *event) (any, error) {
		if r.Method != http.MethodPost {
			return nil, methodNotAllowed(w, http.MethodPost)
		}
		id, acc, err := h.verifyForEndpoint(r, ev)
		_, cookieWasCredential, _ := h.credential(r)
		if cookieWasCredential && (err == nil || (errorCode(err) == auth.CodeUnauthorized && sameOrigin(r))) {
			// Only the cookie that was the credential, so no token is
			// forgotten unrevoked (with two, the other may be one a sibling
			// subdomain planted); and only for a page of this site: another
			// site's form must not log the user out of this one.
			http.SetCookie(w, h.loginCookie("", -1))
		}
		if err != nil {
			return nil, err
		}
		return nil, acc.service.Logout(r.Context(), id)
	})
}

func (h *Handler) serveJWKS(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return h.writeError(w, methodNotAllowed(w, "GET, HEAD"))
	}
	set, err := jwks(r.Context(), h.accounts)
	if err != nil {
		return h.writeError(w, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, err = w.Write(set)
	return err
}

// readBody decodes a POSTed body of at most maxBodyBytes into v: a JSON
// object, or a form (application/x-www-form-urlencoded, what `curl -d` and a
// wx.request with a form header send) whose field names are v's JSON names.
// Unknown fields are ignored; anything else amiss is invalid_request.
func readBody(w http.ResponseWriter, r *http.Request, v any) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, http.MethodPost)
	}
	mediaType := "application/json"
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "application/x-www-form-urlencoded") {
			return invalidRequest("the body must be application/json or application/x-www-form-urlencoded")
		}
		mediaType = mt
	}
	body := http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if mediaType == "application/x-www-form-urlencoded" {
		return readForm(body, v)
	}
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		return bodyError(err, "the body must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidRequest("the body must hold one JSON object")
	}
	return nil
}

// readForm decodes a form into v through v's JSON field names, so that both
// kinds of body have one set of names. A field given twice is refused:
// which value counts would be ambiguous.
func readForm(body io.Reader, v any) error {
	raw, err := io.ReadAll(body)
	if err != nil {
		return bodyError(err, "the body could not be read")
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return invalidRequest("the body must be a valid form")
	}
	// JSON decoding matches names without regard to case, so "code" and
	// "CODE" are one field given twice.
	fields := make(map[string]string, len(form))
	folded := make(map[string]bool, len(form))
	for name, values := range form {
		if len(values) != 1 || folded[strings.ToLower(name)] {
			return invalidRequest(fmt.Sprintf("the field %q is given more than once", name))
		}
		folded[strings.ToLower(name)] = true
		fields[name] = values[0]
	}
	asJSON, err := json.Marshal(fields)
	if err != nil {
		return invalidRequest("the body must be a valid form")
	}
	if err := json.Unmarshal(asJSON, v); err != nil {
		return invalidRequest("the body must be a valid form")
	}
	return nil
}

// bodyError is invalid_request with msg, or saying the body is too large.
func bodyError(err error, msg string) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return invalidRequest(fmt.Sprintf("the body exceeds %d bytes", maxBodyBytes))
	}
	return invalidRequest(msg)
}

func invalidRequest(msg string) error {
	return &auth.Error{Code: auth.CodeInvalidRequest, Message: msg}
}

func methodNotAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return &auth.Error{Code: codeMethodNotAllowed, Message: "method not allowed; use " + allow}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// clientIP is the address Caddy determined for the client, which honours
// the server's trusted_proxies.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
