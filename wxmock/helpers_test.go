package wxmock

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/fakeclock"
)

const (
	testAppID  = "wx00112233445566ff"
	testSecret = "test-secret"
)

// newTestServer returns a fake for testAppID on a fake clock; cfg may set
// anything else.
func newTestServer(t *testing.T, cfg Config) (*Server, *fakeclock.Clock) {
	t.Helper()
	clock := fakeclock.New(time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC))
	if cfg.AppID == "" {
		cfg.AppID = testAppID
	}
	if cfg.AppSecret == "" {
		cfg.AppSecret = testSecret
	}
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	return New(cfg), clock
}

// reply is a decoded JSON answer; numbers stay json.Number so that a number
// and a string are told apart.
type reply struct {
	status int
	body   map[string]any
}

func (r reply) errcode() int {
	n, ok := r.body["errcode"].(json.Number)
	if !ok {
		return 0
	}
	i, err := n.Int64()
	if err != nil {
		panic(err)
	}
	return int(i)
}

func (r reply) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// do sends one request to h in-process. body is sent verbatim when it is a
// string, as JSON otherwise, and not at all when nil.
func do(t *testing.T, h http.Handler, method, target string, body any) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encoding request body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, target, rd)
	h.ServeHTTP(rec, req)
	return decodeReply(t, req.URL.Path, rec.Code, rec.Header(), rec.Body)
}

// wantContentType is how real WeChat labels the answers of the API at path:
// text/plain from the /sns/ APIs, application/json from the rest (and from
// the fake's own /mock/ endpoints).
func wantContentType(path string) string {
	if strings.HasPrefix(path, "/sns/") {
		return "text/plain"
	}
	return "application/json"
}

// decodeReply decodes the JSON answer to a request for path, after checking
// that it carries the Content-Type WeChat would send.
func decodeReply(t *testing.T, path string, status int, h http.Header, body io.Reader) reply {
	t.Helper()
	r := reply{status: status}
	if status == http.StatusNoContent {
		return r
	}
	if ct, want := h.Get("Content-Type"), wantContentType(path); ct != want {
		t.Fatalf("%s: Content-Type = %q, want %q", path, ct, want)
	}
	dec := json.NewDecoder(body)
	dec.UseNumber()
	if err := dec.Decode(&r.body); err != nil {
		t.Fatalf("decoding answer: %v", err)
	}
	return r
}

func sessionURL(appid, secret, code, grantType string) string {
	q := url.Values{}
	for k, v := range map[string]string{"appid": appid, "secret": secret, "js_code": code, "grant_type": grantType} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return PathJSCode2Session + "?" + q.Encode()
}

// login redeems a fresh code for user and fails the test unless it works.
func login(t *testing.T, s *Server, user string) reply {
	t.Helper()
	r := do(t, s, http.MethodGet, sessionURL(testAppID, testSecret, s.Code(user), "authorization_code"), nil)
	if r.errcode() != 0 || r.str("session_key") == "" {
		t.Fatalf("login of %q answered %v", user, r.body)
	}
	return r
}

func stableToken(t *testing.T, s *Server, force bool) reply {
	t.Helper()
	return do(t, s, http.MethodPost, PathStableToken, map[string]any{
		"grant_type": "client_credential", "appid": testAppID, "secret": testSecret, "force_refresh": force,
	})
}

func legacyToken(t *testing.T, s *Server) reply {
	t.Helper()
	return do(t, s, http.MethodGet, PathToken+"?grant_type=client_credential&appid="+testAppID+"&secret="+testSecret, nil)
}

// mustToken returns a token from a token answer.
func mustToken(t *testing.T, r reply) string {
	t.Helper()
	tok := r.str("access_token")
	if tok == "" {
		t.Fatalf("token endpoint answered %v", r.body)
	}
	return tok
}

// useToken redeems a fresh phone code with tok and returns the errcode: 0
// means WeChat accepted the token.
func useToken(t *testing.T, s *Server, tok string) int {
	t.Helper()
	code := s.PhoneCode("token-prober", "13800138000")
	return do(t, s, http.MethodPost, PathGetUserPhoneNumber+"?access_token="+url.QueryEscape(tok),
		map[string]string{"code": code}).errcode()
}

// The test's own renderings of WeChat's two signature rules, written from
// the docs and checked against the docs' examples in
// TestDocumentedSignatureExamplesMatchTheTestsRenderings.

func sessionSignature(sessionKey, message string) string {
	mac := hmac.New(sha256.New, []byte(sessionKey)) // the base64 TEXT is the key
	mac.Write([]byte(message))
	return hex.EncodeToString(mac.Sum(nil))
}

func rawDataSignature(rawData, sessionKey string) string {
	sum := sha1.Sum([]byte(rawData + sessionKey))
	return hex.EncodeToString(sum[:])
}
