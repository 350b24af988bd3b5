package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/wxauth/caddy-wxauth/auth"
)

// maxBodyBytes bounds request bodies of the endpoints (SPEC.md: 64 KiB).
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
	return nil
}

func (h *Handler) serveLogin(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Code string `json:"code"`
	}
	if err := readJSON(w, r, &req); err != nil {
		return h.writeError(w, err)
	}
	login, err := h.service.Login(r.Context(), req.Code, clientIP(r))
	if err != nil {
		return h.writeError(w, err)
	}
	return writeJSON(w, http.StatusOK, login)
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
	var req phoneRequest
	if err := readJSON(w, r, &req); err != nil {
		return h.writeError(w, err)
	}
	id, err := h.verify(r)
	if err != nil {
		return h.writeError(w, err)
	}
	data := firstNonEmpty(req.EncryptedData, req.EncryptedDataCamel)
	var phone *auth.Phone
	switch {
	case req.Code != "":
		phone, err = h.service.PhoneByCode(r.Context(), id, req.Code)
	case data != "" && req.IV != "":
		phone, err = h.service.PhoneByEncryptedData(r.Context(), id, data, req.IV)
	default:
		err = invalidRequest(`send "code", or "encrypted_data" and "iv"`)
	}
	if err != nil {
		return h.writeError(w, err)
	}
	return writeJSON(w, http.StatusOK, phone)
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
	var req profileRequest
	if err := readJSON(w, r, &req); err != nil {
		return h.writeError(w, err)
	}
	id, err := h.verify(r)
	if err != nil {
		return h.writeError(w, err)
	}
	raw, data := firstNonEmpty(req.RawData, req.RawDataCamel), firstNonEmpty(req.EncryptedData, req.EncryptedDataCamel)
	if raw == "" || req.Signature == "" || data == "" || req.IV == "" {
		return h.writeError(w, invalidRequest(`"raw_data", "signature", "encrypted_data" and "iv" are required`))
	}
	profile, err := h.service.Profile(r.Context(), id, raw, req.Signature, data, req.IV)
	if err != nil {
		return h.writeError(w, err)
	}
	return writeJSON(w, http.StatusOK, profile)
}

func (h *Handler) serveLogout(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(h, w, http.MethodPost)
	}
	id, err := h.verify(r)
	if err != nil {
		return h.writeError(w, err)
	}
	if err := h.service.Logout(r.Context(), id); err != nil {
		return h.writeError(w, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) serveJWKS(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(h, w, "GET, HEAD")
	}
	set, err := h.service.JWKS(r.Context())
	if err != nil {
		return h.writeError(w, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, err = w.Write(set)
	return err
}

// readJSON decodes a POSTed JSON object of at most maxBodyBytes into v.
// Unknown fields are ignored; anything else amiss is invalid_request.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return &auth.Error{Code: codeMethodNotAllowed, Message: "use POST"}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return invalidRequest("the body must be application/json")
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return invalidRequest(fmt.Sprintf("the body exceeds %d bytes", maxBodyBytes))
		}
		return invalidRequest("the body must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidRequest("the body must hold one JSON object")
	}
	return nil
}

func invalidRequest(msg string) error {
	return &auth.Error{Code: auth.CodeInvalidRequest, Message: msg}
}

func methodNotAllowed(h *Handler, w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return h.writeError(w, &auth.Error{Code: codeMethodNotAllowed, Message: "method not allowed; use " + allow})
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
