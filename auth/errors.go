package auth

import (
	"errors"
	"fmt"

	"github.com/wxauth/caddy-wxauth/wechat"
)

// The error codes of the README's error table. Each names one way a request fails; the HTTP
// layer maps them to statuses.
const (
	CodeInvalidRequest   = "invalid_request"
	CodeUnauthorized     = "unauthorized"
	CodeInvalidCode      = "invalid_code"
	CodeDecryptFailed    = "decrypt_failed"
	CodePhoneRequired    = "phone_required"
	CodeUserBlocked      = "user_blocked"
	CodeRateLimited      = "rate_limited"
	CodeUpstreamError    = "upstream_error"
	CodeStoreUnavailable = "store_unavailable"
)

// Error is a failure a client may be told about. Message is safe to show;
// the wrapped cause is for logs and never holds a secret.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func newError(code, msg string, cause error) *Error {
	return &Error{Code: code, Message: msg, Err: cause}
}

// storeError reports that the session store failed.
func storeError(what string, err error) *Error {
	return newError(CodeStoreUnavailable, "the session store is unavailable", fmt.Errorf("%s: %w", what, err))
}

// wechatError translates a failed WeChat call into the client-facing error.
func wechatError(err error) *Error {
	var api *wechat.APIError
	if errors.As(err, &api) {
		switch api.Code {
		case wechat.CodeInvalidCode, wechat.CodeCodeUsed:
			return newError(CodeInvalidCode, "the code is invalid or was already used", err)
		case wechat.CodeUserBlocked:
			return newError(CodeUserBlocked, "WeChat blocked this user", err)
		case wechat.CodeRateLimited:
			return newError(CodeRateLimited, "WeChat rate limit reached, retry later", err)
		}
	}
	return newError(CodeUpstreamError, "WeChat could not be reached or answered an error", err)
}
