package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/wxauth/caddy-wxauth/auth"
	"github.com/wxauth/caddy-wxauth/wechat"
)

// statusOf maps the error codes to HTTP statuses.
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
	auth.CodeSnapshotUser:     http.StatusForbidden,
	codeMethodNotAllowed:      http.StatusMethodNotAllowed,
	codeCSRFFailed:            http.StatusForbidden,
}

// HTTP concerns only, so they live here.
const (
	codeMethodNotAllowed = "method_not_allowed"
	// codeCSRFFailed refuses a cookie-authenticated request that may
	// change something and does not come from a page of this site.
	codeCSRFFailed = "csrf_failed"
)

// errorBody is the JSON of every error response.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// writeError answers err as the JSON error body and logs it: client mistakes
// at Debug, failures of WeChat or the store at Error. The response is written
// here, so the handler chain sees no error.
func (h *Handler) writeError(w http.ResponseWriter, err error) error {
	e := asAuthError(err)
	status := statusOf[e.Code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if status >= 500 {
		if wechat.IsCode(e.Err, wechat.CodeInvalidAppID, wechat.CodeInvalidAppSecret, wechat.CodeIPNotAllowed) {
			h.credentialsRefused.Do(func() {
				h.logger.Error("WeChat refused this app's credentials: check app_id and app_secret (errcode 40013/40125), or add this server's IP to the app's API IP allowlist (40164)",
					zap.String("app_id", h.AppID), zap.Error(e.Err))
			})
		}
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

// asAuthError returns err as the client-facing error it is, or as an internal one.
func asAuthError(err error) *auth.Error {
	var e *auth.Error
	if !errors.As(err, &e) {
		e = &auth.Error{Code: auth.CodeUpstreamError, Message: "internal error", Err: err}
	}
	return e
}

// errorCode is the outcome label of err: "ok" for nil, else its error code.
func errorCode(err error) string {
	if err == nil {
		return "ok"
	}
	return asAuthError(err).Code
}
