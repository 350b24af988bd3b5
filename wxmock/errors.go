package wxmock

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// WeChat error codes the fake answers with. The numbers and errmsg texts are
// WeChat's own (from the API pages and the global return-code list); clients
// should branch on errcode only, never on errmsg.
const (
	errSystemBusy         = -1
	errInvalidCredential  = 40001
	errInvalidGrantType   = 40002
	errInvalidOpenID      = 40003
	errInvalidMediaType   = 40004
	errInvalidFileType    = 40005
	errInvalidMediaSize   = 40006
	errInvalidAppID       = 40013
	errInvalidAccessToken = 40014
	errInvalidCode        = 40029
	errInvalidTemplateID  = 40037
	errInvalidArgs        = 40097
	errInvalidAppSecret   = 40125
	errInvalidScene       = 40129
	errCodeBeenUsed       = 40163
	errSceneLength        = 40169
	errCodeBlocked        = 40226
	errAccessTokenMissing = 41001
	errAppIDMissing       = 41002
	errAppSecretMissing   = 41004
	errMediaDataMissing   = 41005
	errCodeMissing        = 41008
	errInvalidPage        = 41030
	errAccessTokenExpired = 42001
	errRequirePOST        = 43002
	errUserRefused        = 43101
	errAPIUnauthorized    = 48001
	errOpenIDOfOtherApp   = 43104
	errSecCheckMethod     = 43302
	errEmptyPostData      = 44002
	errDailyQuota         = 45009
	errMinuteQuota        = 45011
	errDataFormat         = 47001
	errArgumentInvalid    = 47003
	errInvalidSignature   = 87009
	errRiskyContent       = 87014
)

var errmsgs = map[int]string{
	errSystemBusy:         "system error",
	errInvalidCredential:  "invalid credential, access_token is invalid or not latest",
	errInvalidGrantType:   "invalid grant_type",
	errInvalidOpenID:      "invalid openid",
	errInvalidMediaType:   "invalid media type",
	errInvalidFileType:    "invalid file type",
	errInvalidMediaSize:   "invalid meida size", // sic: WeChat's spelling
	errInvalidAppID:       "invalid appid",
	errInvalidAccessToken: "invalid access_token",
	errInvalidCode:        "invalid code",
	errInvalidTemplateID:  "invalid template_id",
	errInvalidArgs:        "invalid args",
	errInvalidAppSecret:   "invalid appsecret",
	errInvalidScene:       "invalid scene",
	errCodeBeenUsed:       "code been used",
	errSceneLength:        "invalid length for scene, or the data is not json string",
	errCodeBlocked:        "code blocked",
	errAccessTokenMissing: "access_token missing",
	errAppIDMissing:       "appid missing",
	errAppSecretMissing:   "appsecret missing",
	errMediaDataMissing:   "media data missing",
	errCodeMissing:        "missing code",
	errInvalidPage:        "invalid page",
	errAccessTokenExpired: "access_token expired",
	errRequirePOST:        "require POST method",
	errUserRefused:        "user refuse to accept the msg",
	errAPIUnauthorized:    "api unauthorized",                  // sns/userinfo with a snsapi_base token: "api unauthorized, hints: [ req_id: 1QoCla0699ns81 ]" (hk.javashuo.com/article/p-acfmftch-bg.html)
	errOpenIDOfOtherApp:   "appid and openid not match",        // none captured; after the docs' "Appid doesn't match with openid"
	errSecCheckMethod:     "method invocation error, use POST", // none captured; after the docs' "Method invocation error, please call with post method"
	errEmptyPostData:      "empty post data",
	errDailyQuota:         "reach max api daily quota limit",
	errMinuteQuota:        "api minute-quota reach limit mustslower retry next minute",
	errDataFormat:         "data format error",
	errArgumentInvalid:    "argument invalid!",
	errInvalidSignature:   "invalid signature",
	errRiskyContent:       "risky content",
}

// wxError is how a WeChat API handler answers an error: it returns
// wxError(errcode) and Server.api renders the body with errorBody, which
// knows the errmsg shape of each API.
type wxError int

// wxErrorDetail is a wxError whose errmsg names what was wrong, as WeChat's
// 47003 does ("argument invalid! data.thing3.value is emtpy"): msg replaces
// the errcode's usual text, the request id is appended as for wxError.
type wxErrorDetail struct {
	code int
	msg  string
}

// apiError is WeChat's error body, sent with HTTP 200 like the real service.
type apiError struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// errorBody builds the answer the API at path gives for errcode. Real errmsgs
// end in a request id, and the punctuation before it differs by API family;
// the fake copies what published answers show, so that a client comparing
// errmsg verbatim fails here and not in production:
//
//   - /sns/ (jscode2session): a comma — "appid missing, rid:
//     67d92213-3415dc90-0e7f5926" (github.com/w7corp/easywechat/issues/2906,
//     a JSON body POSTed to jscode2session), and "invalid code, rid: …",
//     "code been used, rid: …", "invalid appid, rid: …" quoted in clients'
//     code comments and test fixtures.
//   - /cgi-bin/ and /wxa/: no comma — "appid missing rid:
//     5f368647-37f5f5fd-763fff09" (w7corp/easywechat#1918), "invalid appid
//     rid: 655d878c-2e41a3f4-65f9b9ba" (ArtisanCloud/PowerWeChat#413),
//     "invalid credential, access_token is invalid or not latest rid: …"
//     (Tishon1532/chatgpt-on-wechat-win#12), "access_token missing rid:
//     66739825-3646610c-1b890536" from getuserphonenumber (kuif/xcx#1).
//   - getuserphonenumber's 40029 has a hint before the rid: "invalid code
//     hint: [hElexSDNRa-XiBFgA] rid: 632d16be-15ad5486-1e378de4"
//     (binarywang/WxJava#2821; also kuif/xcx#1, JeffreySu/WeiXinMPSDK#2723).
//
// Where no answer was published (-1 from /sns/, anything from checksession)
// the errmsg follows its family: "system error, rid: …" from jscode2session,
// "system error rid: …" elsewhere.
func (s *Server) errorBody(path string, errcode int) apiError {
	return s.errorBodyMsg(path, errcode, "")
}

// errorBodyMsg is errorBody with msg, when not empty, in place of the
// errcode's usual errmsg.
func (s *Server) errorBodyMsg(path string, errcode int, msg string) apiError {
	if msg == "" {
		var ok bool
		if msg, ok = errmsgs[errcode]; !ok {
			msg = fmt.Sprintf("wxmock injected error %d", errcode)
		}
	}
	if path == PathGetUserPhoneNumber && errcode == errInvalidCode {
		msg += " hint: [" + hint() + "]"
	}
	sep := " "
	if strings.HasPrefix(path, "/sns/") {
		sep = ", "
	}
	return apiError{ErrCode: errcode, ErrMsg: msg + sep + "rid: " + rid(s.now())}
}

// rid returns a request id shaped like WeChat's: three groups of eight hex
// digits, the first being the Unix time of the answer (in the captures above
// it decodes to the day the answer was reported: 632d16be is 2022-09-23), the
// other two random, so every answer gets its own.
func rid(now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%08x-%s-%s", uint32(now.Unix()), h[:8], h[8:])
}

// hint returns a random hint like the ones in getuserphonenumber's errmsgs:
// nine and six URL-safe base64 characters joined by "-" ("EfJCIi5Rf-KaNtQA").
func hint() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	s := base64.RawURLEncoding.EncodeToString(b[:])
	return s[:9] + "-" + s[9:15]
}
