package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/wxauth/caddy-wxauth/auth"
)

// statusOf maps SPEC.md's error codes to HTTP statuses.
var statusOf = map[string]int{
	auth.CodeInvalidRequest:   http.StatusBadRequest,
	auth.CodeUnauthorized:     http.StatusUnauthorized,
	auth.CodeInvalidCode:      http.StatusUnauthorized,
	auth.CodeDecryptFailed:    http.StatusBadRequest,
	auth.CodePhoneRequired:    http.StatusForbidden,
	auth.CodeUserBlocked:      http.StatusForbidden,
	auth.CodeRateLimited:      http.StatusTooManyRequests,
	auth.CodeUpstreamError:    http.StatusBadGateway,
	auth.CodeStoreUnavailable: http.StatusServiceUnavailable,
	codeMethodNotAllowed:      http.StatusMethodNotAllowed,
}

// codeMethodNotAllowed is an HTTP concern only, so it lives here.
const codeMethodNotAllowed = "method_not_allowed"

// errorBody is the JSON of every error response.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// writeError answers err as SPEC.md's JSON error and logs it: client mistakes
// at Debug, failures of WeChat or the store at Error. The response is written
// here, so the handler chain sees no error.
func (h *Handler) writeError(w http.ResponseWriter, err error) error {
	e := asAuthError(err)
	status := statusOf[e.Code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if status >= 500 {
		h.logger.Error("request failed", zap.String("code", e.Code), zap.Error(e.Err))
	} else if ce := h.logger.Check(zap.DebugLevel, "request refused"); ce != nil {
		ce.Write(zap.String("code", e.Code), zap.Error(e.Err))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wxauth"`)
	}
	return writeJSON(w, status, errorBody{Error: e.Code, Message: e.Message})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}

// asAuthError returns err as the SPEC.md error it is, or as an internal one.
func asAuthError(err error) *auth.Error {
	var e *auth.Error
	if !errors.As(err, &e) {
		e = &auth.Error{Code: auth.CodeUpstreamError, Message: "internal error", Err: err}
	}
	return e
}

// errorCode is the outcome label of err: "ok" for nil, else its SPEC.md code.
func errorCode(err error) string {
	if err == nil {
		return "ok"
	}
	return asAuthError(err).Code
}
