package wxmock

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"time"
)

// codeTTL is how long a wx.login or getPhoneNumber code stays redeemable:
// five minutes, per WeChat's docs for both.
const codeTTL = 5 * time.Minute

// sessionKeyHistory bounds the session_keys kept per user. Only the latest is
// valid (WeChat: "同一用户在同一时刻仅有一个有效的 session_key"); the older ones
// are kept so tests can build stale-key scenarios.
const sessionKeyHistory = 8

type loginCode struct {
	app     *AppHandle // the only app that may redeem it
	user    string
	expires time.Time
	used    bool
	errcode int // answered instead of a session when non-zero
}

// Code mints a wx.login code for user in the default app, as the mini
// program would get from wx.login. It is single-use and expires after five
// minutes.
func (s *Server) Code(user string) string { return s.apps[0].Code(user) }

// Code mints a wx.login code for user in this app. Only this app's
// credentials can redeem it: redeemed with another appid it answers 40029.
func (a *AppHandle) Code(user string) string { return a.FailingCode(user, 0) }

// FailingCode mints a wx.login code in the default app that, when redeemed,
// answers errcode instead of a session (for example 40226, a user WeChat
// blocks as high risk). The code is consumed like a good one. errcode 0 mints
// a normal code.
func (s *Server) FailingCode(user string, errcode int) string {
	return s.apps[0].FailingCode(user, errcode)
}

// FailingCode is Server.FailingCode for this app.
func (a *AppHandle) FailingCode(user string, errcode int) string {
	code := randomAlnum(32)
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.pruneCodes(now)
	a.knowLocked(user)
	s.codes[code] = &loginCode{app: a, user: user, expires: now.Add(codeTTL), errcode: errcode}
	return code
}

// pruneCodes forgets expired codes — wx.login, getPhoneNumber and web
// OAuth. It runs at most every codeTTL/10 so that minting stays cheap under
// load; an expired code answers 40029 whether or not it has been forgotten
// yet.
func (s *Server) pruneCodes(now time.Time) {
	if now.Sub(s.codesPruned) < codeTTL/10 {
		return
	}
	s.codesPruned = now
	for k, c := range s.codes {
		if !now.Before(c.expires) {
			delete(s.codes, k)
		}
	}
	for k, c := range s.phoneCodes {
		if !now.Before(c.expires) {
			delete(s.phoneCodes, k)
		}
	}
	for k, c := range s.oauthCodes {
		if !now.Before(c.expires) {
			delete(s.oauthCodes, k)
		}
	}
}

// SessionKey returns the latest session_key issued to user in the default
// app, or "" if user has never logged in there. It exists to test the fake
// itself and clients' crypto; a real server never reveals a session_key.
func (s *Server) SessionKey(user string) string { return s.apps[0].SessionKey(user) }

// SessionKey is Server.SessionKey for this app. A user's session_keys are
// per app: logging in to one app leaves the others' untouched.
func (a *AppHandle) SessionKey(user string) string {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	keys := a.sessions[openID(a.id, user)]
	if len(keys) == 0 {
		return ""
	}
	return keys[len(keys)-1]
}

// SessionKeys returns the last session_keys issued to user in the default
// app, oldest first (at most eight). Only the last one is valid.
func (s *Server) SessionKeys(user string) []string { return s.apps[0].SessionKeys(user) }

// SessionKeys is Server.SessionKeys for this app.
func (a *AppHandle) SessionKeys(user string) []string {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return slices.Clone(a.sessions[openID(a.id, user)])
}

type sessionResponse struct {
	OpenID     string `json:"openid"`
	SessionKey string `json:"session_key"`
	UnionID    string `json:"unionid,omitempty"`
}

// jscode2session is GET /sns/jscode2session (code2Session). It reads the
// query string only, so a client that POSTs a form gets 41002 appid missing,
// as on WeChat. A code minted for another app answers 40029, like an unknown
// one — that app's WeChat has never heard of it — and stays redeemable by its
// own app.
func (s *Server) jscode2session(r *http.Request) any {
	q := r.URL.Query()
	a, errcode := s.checkCredentials(q.Get("appid"), q.Get("secret"), q.Get("grant_type"), "authorization_code")
	if errcode != 0 {
		return wxError(errcode)
	}
	code := q.Get("js_code")
	if code == "" {
		return wxError(errCodeMissing)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.codes[code]
	switch {
	case c == nil || c.app != a || !s.now().Before(c.expires):
		return wxError(errInvalidCode)
	case c.used:
		return wxError(errCodeBeenUsed)
	}
	c.used = true
	if c.errcode != 0 {
		return wxError(c.errcode)
	}

	openid := openID(a.id, c.user)
	key := newSessionKey()
	keys := append(a.sessions[openid], key)
	if len(keys) > sessionKeyHistory {
		keys = slices.Clone(keys[len(keys)-sessionKeyHistory:])
	}
	a.sessions[openid] = keys

	resp := sessionResponse{OpenID: openid, SessionKey: key}
	if s.cfg.UnionID {
		resp.UnionID = unionID(c.user)
	}
	return resp
}

// checkCredentials checks appid, secret and grant_type in WeChat's order of
// complaint: 40013 for an AppID the fake does not serve, 40125 for a secret
// that is not that app's (another served app's secret included). It returns
// the app and 0 when all are right.
func (s *Server) checkCredentials(appid, secret, grantType, wantGrant string) (*AppHandle, int) {
	a := s.byID[appid]
	switch {
	case appid == "":
		return nil, errAppIDMissing
	case a == nil:
		return nil, errInvalidAppID
	case secret == "":
		return nil, errAppSecretMissing
	case secret != a.secret:
		return nil, errInvalidAppSecret
	case grantType != wantGrant:
		return nil, errInvalidGrantType
	}
	return a, 0
}

// checkSession is GET /wxa/checksession (checkSessionKey). The signature is
// lowercase hex of HMAC-SHA256 keyed with the session_key's base64 text over
// the empty string; only the user's latest session_key in the token's app
// passes, so an openid of another app answers 87009. The fields come
// from the query string (WeChat's example); a POSTed JSON body may fill in the
// ones the query lacks, since the newer docs list them as a body.
func (s *Server) checkSession(r *http.Request) any {
	a, errcode := s.checkAccessToken(r.URL.Query().Get("access_token"))
	if errcode != 0 {
		return wxError(errcode)
	}
	var p struct {
		OpenID    string `json:"openid"`
		Signature string `json:"signature"`
		SigMethod string `json:"sig_method"`
	}
	if r.Method == http.MethodPost {
		// A body that is not JSON leaves the fields empty; that is answered below.
		_ = json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&p)
	}
	q := r.URL.Query()
	p.OpenID = cmp.Or(q.Get("openid"), p.OpenID)
	p.Signature = cmp.Or(q.Get("signature"), p.Signature)
	p.SigMethod = cmp.Or(q.Get("sig_method"), p.SigMethod)
	switch {
	case p.SigMethod != "hmac_sha256":
		return wxError(errInvalidArgs)
	case p.OpenID == "":
		return wxError(errInvalidOpenID)
	}

	s.mu.Lock()
	var latest string
	if keys := a.sessions[p.OpenID]; len(keys) > 0 {
		latest = keys[len(keys)-1]
	}
	s.mu.Unlock()
	if latest == "" {
		return wxError(errInvalidSignature)
	}
	mac := hmac.New(sha256.New, []byte(latest))
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(p.Signature), []byte(want)) {
		return wxError(errInvalidSignature)
	}
	return apiError{ErrCode: 0, ErrMsg: "ok"}
}
