package wxmock

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// WeChat error codes the fake answers with. The numbers and errmsg texts are
// WeChat's own (from the API pages and the global return-code list); clients
// should branch on errcode only, never on errmsg.
const (
	errSystemBusy         = -1
	errInvalidCredential  = 40001
	errInvalidGrantType   = 40002
	errInvalidOpenID      = 40003
	errInvalidAppID       = 40013
	errInvalidAccessToken = 40014
	errInvalidCode        = 40029
	errInvalidArgs        = 40097
	errInvalidAppSecret   = 40125
	errCodeBeenUsed       = 40163
	errCodeBlocked        = 40226
	errAccessTokenMissing = 41001
	errAppIDMissing       = 41002
	errAppSecretMissing   = 41004
	errCodeMissing        = 41008
	errAccessTokenExpired = 42001
	errRequirePOST        = 43002
	errDailyQuota         = 45009
	errMinuteQuota        = 45011
	errDataFormat         = 47001
	errInvalidSignature   = 87009
)

var errmsgs = map[int]string{
	errSystemBusy:         "system error",
	errInvalidCredential:  "invalid credential, access_token is invalid or not latest",
	errInvalidGrantType:   "invalid grant_type",
	errInvalidOpenID:      "invalid openid",
	errInvalidAppID:       "invalid appid",
	errInvalidAccessToken: "invalid access_token",
	errInvalidCode:        "invalid code",
	errInvalidArgs:        "invalid args",
	errInvalidAppSecret:   "invalid appsecret",
	errCodeBeenUsed:       "code been used",
	errCodeBlocked:        "code blocked",
	errAccessTokenMissing: "access_token missing",
	errAppIDMissing:       "appid missing",
	errAppSecretMissing:   "appsecret missing",
	errCodeMissing:        "missing code",
	errAccessTokenExpired: "access_token expired",
	errRequirePOST:        "require POST method",
	errDailyQuota:         "reach max api daily quota limit",
	errMinuteQuota:        "api minute-quota reach limit mustslower retry next minute",
	errDataFormat:         "data format error",
	errInvalidSignature:   "invalid signature",
}

// apiError is WeChat's error body, sent with HTTP 200 like the real service.
type apiError struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// newAPIError builds the body for errcode. Real errmsgs end in a request id
// ("invalid code, rid: 6437cc6f-48613c7c-0bdbbd0d"); the fake appends one too
// so that clients which compare errmsg verbatim fail here and not in production.
func newAPIError(errcode int) apiError {
	msg, ok := errmsgs[errcode]
	if !ok {
		msg = fmt.Sprintf("wxmock injected error %d", errcode)
	}
	return apiError{ErrCode: errcode, ErrMsg: msg + ", rid: " + rid()}
}

func rid() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:16] + "-" + h[16:]
}
