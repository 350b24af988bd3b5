package wechat

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// WeChat errcodes wxauth reacts to.
const (
	CodeBusy               = -1
	CodeInvalidCredential  = 40001 // access_token invalid
	CodeInvalidAppID       = 40013
	CodeInvalidAccessToken = 40014
	CodeInvalidCode        = 40029
	CodeCodeUsed           = 40163
	CodeUserBlocked        = 40226
	CodeInvalidAppSecret   = 40125
	CodeIPNotAllowed       = 40164 // the caller's IP is not in the app's API allowlist
	CodeAccessTokenExpired = 42001
	CodeRateLimited        = 45011
	CodeInvalidSignature   = 87009 // checksession: the session_key is not the user's current one
)

// APIError is an answer from WeChat with a non-zero errcode.
type APIError struct {
	Endpoint string // e.g. "sns/jscode2session"; never the URL (it may hold the secret)
	Code     int
	Msg      string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("wechat: %s: errcode %d: %s", e.Endpoint, e.Code, e.Msg)
}

// IsCode reports whether err is (or wraps) an *APIError with one of codes.
func IsCode(err error, codes ...int) bool {
	ae, ok := errors.AsType[*APIError](err)
	if !ok {
		return false
	}
	for _, c := range codes {
		if ae.Code == c {
			return true
		}
	}
	return false
}

// IsTokenRejected reports whether WeChat refused the access_token itself
// (40001, 40014, 42001), the cue to Invalidate it and retry once.
func IsTokenRejected(err error) bool {
	return IsCode(err, CodeInvalidCredential, CodeInvalidAccessToken, CodeAccessTokenExpired)
}

// transportError is a failed round trip. net/http's *url.Error quotes the whole
// URL, secret= and access_token= included, so it is never kept in the chain:
// only its cause is; and should a custom RoundTripper's cause quote a secret,
// only a scrubbed copy of its text is kept.
type transportError struct {
	msg string
	err error
}

func (e *transportError) Error() string { return e.msg }
func (e *transportError) Unwrap() error { return e.err }

func newTransportError(endpoint string, err error, secrets ...string) error {
	if ue, ok := errors.AsType[*url.Error](err); ok && ue.Err != nil {
		err = ue.Err
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
			msg = strings.ReplaceAll(msg, url.QueryEscape(s), "[redacted]")
		}
	}
	if msg != err.Error() {
		err = nil // the cause quotes a secret: keep only the scrubbed text
	}
	return &transportError{msg: fmt.Sprintf("wechat: %s: request failed: %s", endpoint, msg), err: err}
}
