package wxmock

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"
)

// The two APIs of WeChat's web OAuth: the code exchange and the user's
// profile. Both are the same for official accounts and websites.
//
// The web access_token is not the server access_token of cgi-bin/token: "这
// 里通过code换取的是一个特殊的网页授权access_token,与基础支持中的access_token（该
// access_token用于调用其他接口）不同" (the official account docs). It names one
// user of one app and works for sns/userinfo of that openid only; every other
// API answers it 40001, and sns/userinfo answers a server token 40001.

// oauthCode is a code an authorize page handed the browser.
type oauthCode struct {
	app      *AppHandle // the only app that may redeem it
	user     string
	scope    string
	snapshot bool
	expires  time.Time
	used     bool
}

// webToken is a web access_token: one user of one app, one scope.
type webToken struct {
	app      *AppHandle
	user     string
	openid   string // what the exchange answered: virtual for a snapshot login
	scope    string
	snapshot bool
	expires  time.Time
}

// OAuthCode mints the code an authorize page of the default app would
// append to the redirect_uri after user consented to scope (ScopeBase,
// ScopeUserInfo or ScopeLogin), without the page: for testing a callback
// handler alone. Like the pages' codes it is single-use and lives five
// minutes, ten for ScopeLogin. It panics on another scope.
func (s *Server) OAuthCode(user, scope string) string { return s.apps[0].OAuthCode(user, scope) }

// OAuthCode is Server.OAuthCode for this app; only this app's credentials
// can redeem the code.
func (a *AppHandle) OAuthCode(user, scope string) string {
	if scope != ScopeBase && scope != ScopeUserInfo && scope != ScopeLogin {
		panic(fmt.Sprintf("wxmock: OAuthCode: unknown scope %q (want %s, %s or %s)", scope, ScopeBase, ScopeUserInfo, ScopeLogin))
	}
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.s.mintOAuthCodeLocked(a, user, scope, false)
}

// SnapshotOpenID returns the virtual openid a snapshot login of user gets
// in the default app (see NextOAuthSnapshot): like an openid, stable, and
// different from OpenID(user). WeChat documents no rule for virtual
// openids; the fake keeps one per user and app.
func (s *Server) SnapshotOpenID(user string) string { return s.apps[0].SnapshotOpenID(user) }

// SnapshotOpenID is Server.SnapshotOpenID for this app.
func (a *AppHandle) SnapshotOpenID(user string) string { return snapshotOpenID(a.id, user) }

func snapshotOpenID(appID, user string) string {
	return identifier("wxmock snapshot openid\x00" + appID + "\x00" + user)
}

func snapshotUnionID(user string) string {
	return identifier("wxmock snapshot unionid\x00" + user)
}

// mintOAuthCodeLocked mints a web OAuth code of app a for user. A real
// login makes user a user of the app; a snapshot login is a virtual account
// and does not. The caller holds s.mu.
func (s *Server) mintOAuthCodeLocked(a *AppHandle, user, scope string, snapshot bool) string {
	now := s.now()
	s.pruneCodes(now)
	if !snapshot {
		a.knowLocked(user)
	}
	ttl := codeTTL
	if scope == ScopeLogin {
		ttl = websiteCodeTTL
	}
	code := randomAlnum(32)
	s.oauthCodes[code] = &oauthCode{app: a, user: user, scope: scope, snapshot: snapshot, expires: now.Add(ttl)}
	return code
}

type oauthTokenResponse struct {
	AccessToken    string `json:"access_token"`
	ExpiresIn      int    `json:"expires_in"`
	RefreshToken   string `json:"refresh_token"`
	OpenID         string `json:"openid"`
	Scope          string `json:"scope"`
	IsSnapshotUser int    `json:"is_snapshotuser,omitempty"`
	UnionID        string `json:"unionid,omitempty"`
}

// oauthAccessToken is GET /sns/oauth2/access_token?appid=&secret=&code=
// &grant_type=authorization_code: {"access_token","expires_in",
// "refresh_token","openid","scope","is_snapshotuser","unionid"} as the docs
// show it. is_snapshotuser is there only for a snapshot login ("只有当用户是快照
// 页模式虚拟账号时返回，值为1"), unionid only with Config.UnionID and a scope
// other than snsapi_base ("只有当scope为"snsapi_userinfo"时返回"; a website's
// snsapi_login carries the userinfo grant). Credentials are checked as for
// jscode2session (41002, 40013, 41004, 40125, 40002); then 41008 without a
// code, 40029 for a code unknown, expired or of another app — which stays
// redeemable by its own — and 40163 for a code already redeemed ("code been
// used, hints: [ req_id: … ]", binarywang/WxJava#388, node-webot/wechat-oauth#31).
// A wx.login code is no web OAuth code: 40029.
func (s *Server) oauthAccessToken(r *http.Request) any {
	q := r.URL.Query()
	a, errcode := s.checkCredentials(q.Get("appid"), q.Get("secret"), q.Get("grant_type"), "authorization_code")
	if errcode != 0 {
		return wxError(errcode)
	}
	code := q.Get("code")
	if code == "" {
		return wxError(errCodeMissing)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	c := s.oauthCodes[code]
	switch {
	case c == nil || c.app != a || !now.Before(c.expires):
		return wxError(errInvalidCode)
	case c.used:
		return wxError(errCodeBeenUsed)
	}
	c.used = true

	t := &webToken{app: a, user: c.user, openid: openID(a.id, c.user), scope: c.scope, snapshot: c.snapshot,
		expires: now.Add(s.cfg.TokenTTL)}
	if c.snapshot {
		t.openid = snapshotOpenID(a.id, c.user)
	}
	value := s.issueWebTokenLocked(t, now)
	resp := oauthTokenResponse{
		AccessToken:  value,
		ExpiresIn:    wholeSeconds(s.cfg.TokenTTL),
		RefreshToken: "91_" + randomToken(),
		OpenID:       t.openid,
		Scope:        c.scope,
	}
	if c.snapshot {
		resp.IsSnapshotUser = 1
	}
	if s.cfg.UnionID && c.scope != ScopeBase {
		resp.UnionID = t.unionID()
	}
	return resp
}

func (t *webToken) unionID() string {
	if t.snapshot {
		return snapshotUnionID(t.user)
	}
	return unionID(t.user)
}

// issueWebTokenLocked stores t under a fresh value, shaped like WeChat's
// tokens. The caller holds s.mu.
func (s *Server) issueWebTokenLocked(t *webToken, now time.Time) string {
	s.pruneWebTokens(now)
	value := "91_" + randomToken()
	s.webTokens[value] = t
	return value
}

// randomToken returns ~130 URL-safe random characters, the body of a token.
func randomToken() string {
	var b [96]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// pruneWebTokens forgets web tokens dead for over forgetAfter; until then
// they answer 42001, afterwards 40001 like any unknown token.
func (s *Server) pruneWebTokens(now time.Time) {
	if now.Sub(s.webPruned) < forgetAfter/10 {
		return
	}
	s.webPruned = now
	for v, t := range s.webTokens {
		if now.Sub(t.expires) > forgetAfter {
			delete(s.webTokens, v)
		}
	}
}

type userInfoResponse struct {
	OpenID     string   `json:"openid"`
	Nickname   string   `json:"nickname"`
	Sex        int      `json:"sex"`
	Province   string   `json:"province"`
	City       string   `json:"city"`
	Country    string   `json:"country"`
	HeadImgURL string   `json:"headimgurl"`
	Privilege  []string `json:"privilege"`
	UnionID    string   `json:"unionid,omitempty"`
}

// snsUserInfo is GET /sns/userinfo?access_token=&openid=&lang=: {"openid",
// "nickname","sex","province","city","country","headimgurl","privilege",
// "unionid"} for a web access_token granted snsapi_userinfo or
// snsapi_login. The nickname is the user's name as the test wrote it
// ("alice"), headimgurl a stable thirdwx.qlogo.cn URL of theirs; sex is 0 and
// the regions empty, since WeChat stopped returning them in 2021 (Senparc's
// OAuthUserInfo.cs, 2021-09-30: "用户信息调整：不再返回用户性别及地区信息");
// privilege is []. A snapshot login's profile is the virtual account's:
// "微信用户" with the grey default avatar. unionid with Config.UnionID only.
// Errors: 41001 without access_token; 40001 for a token that is no web
// token — unknown, a server access_token, or forgotten an hour or more after
// it expired ("invalid credential, access_token is invalid or not latest,
// hints: …" from sns/userinfo, w7corp/easywechat#808); 42001 expired; 40003 for an
// openid other than the token's (the docs' example error); 48001 api
// unauthorized for a snsapi_base token ("静默授权根据 openid 获取用户信息时报错
// api unauthorized", node-webot/wechat-oauth#27). lang is not checked.
func (s *Server) snsUserInfo(r *http.Request) any {
	q := r.URL.Query()
	value := q.Get("access_token")
	if value == "" {
		return wxError(errAccessTokenMissing)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.webTokens[value]
	switch {
	case t == nil:
		return wxError(errInvalidCredential)
	case !s.now().Before(t.expires):
		return wxError(errAccessTokenExpired)
	case q.Get("openid") != t.openid:
		return wxError(errInvalidOpenID)
	case t.scope == ScopeBase:
		return wxError(errAPIUnauthorized)
	}
	resp := userInfoResponse{
		OpenID:     t.openid,
		Nickname:   t.user,
		HeadImgURL: headImgURL(t.user),
		Privilege:  []string{},
	}
	if t.snapshot {
		resp.Nickname, resp.HeadImgURL = "微信用户", defaultAvatar
	}
	if s.cfg.UnionID {
		resp.UnionID = t.unionID()
	}
	return resp
}

// headImgURL is user's avatar: shaped like WeChat's ("…/mmopen/vi_32/…/132",
// the last number the size) and stable, so a test can compare it.
func headImgURL(user string) string {
	return "https://thirdwx.qlogo.cn/mmopen/vi_32/" + identifier("wxmock avatar\x00" + user)[1:] + "/132"
}
