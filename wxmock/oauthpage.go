package wxmock

import (
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The authorize pages of WeChat's web OAuth. A real user opens them inside
// WeChat (official accounts) or scans their QR code (websites) and consents;
// the fake consents at once, for a user the test chooses, and redirects.
//
// Official accounts (公众号网页授权,
// developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html):
//
//	https://open.weixin.qq.com/connect/oauth2/authorize?appid=APPID&redirect_uri=REDIRECT_URI&response_type=code&scope=SCOPE&state=STATE#wechat_redirect
//	→ redirect_uri/?code=CODE&state=STATE
//
// "code只能使用一次，5分钟未被使用自动过期"; errors are shown on a page, with
// the codes 10003–10016 of the docs' 错误返回码说明.
//
// Websites (网站应用微信登录,
// developers.weixin.qq.com/doc/oplatform/Website_App/WeChat_Login/Wechat_Login.html):
//
//	https://open.weixin.qq.com/connect/qrconnect?appid=APPID&redirect_uri=REDIRECT_URI&response_type=code&scope=SCOPE&state=STATE#wechat_redirect
//	→ redirect_uri?code=CODE&state=STATE
//
// scope is snsapi_login only; "code的超时时间为10分钟，一个code只能成功换取一次
// access_token即失效" (the same page's F.A.Q.).

// WeChat's web OAuth scopes. ScopeBase and ScopeUserInfo are an official
// account's (oauth2/authorize), ScopeLogin a website's (qrconnect).
const (
	ScopeBase     = "snsapi_base"     // silent; an openid only: sns/userinfo answers 48001
	ScopeUserInfo = "snsapi_userinfo" // the user consents; sns/userinfo answers
	ScopeLogin    = "snsapi_login"    // website QR login; sns/userinfo answers
)

// DefaultOAuthUser is the user an authorize page logs in when the test has
// named nobody: no mock_user on the URL and nobody queued with
// NextOAuthUser or NextOAuthSnapshot.
const DefaultOAuthUser = "alice"

// websiteCodeTTL is how long a qrconnect code stays redeemable (ten
// minutes, see above); an official account's lives codeTTL (five).
const websiteCodeTTL = 10 * time.Minute

// The error codes of the official account's authorize page (the docs' 错误返回
// 码说明). They are shown on WeChat's error page, not answered as JSON.
const (
	pageRedirectMismatch = 10003
	pageScopeDenied      = 10005
	pageScopeMissing     = 10010
	pageRedirectMissing  = 10011
	pageAppIDMissing     = 10012
)

var pageErrmsgs = map[int]string{
	10003: "redirect_uri域名与后台配置不一致",
	10004: "此公众号被封禁",
	10005: "此公众号并没有这些scope的权限",
	10006: "必须关注此测试号",
	10009: "操作太频繁了，请稍后重试",
	10010: "scope不能为空",
	10011: "redirect_uri不能为空",
	10012: "appid不能为空",
	10013: "state不能为空",
	10015: "公众号未授权第三方平台，请检查授权状态",
	10016: "不支持微信开放平台的Appid，请使用公众号Appid",
}

// What the website login page says; it shows no error codes. The texts are
// the ones developers quote from it: "Scope 参数错误或没有 Scope 权限" for an
// official account's AppID or another scope
// (blog.youkuaiyun.com/Fouse_/article/details/86222417), "redirect_uri 参数错
// 误" for a callback outside the registered domain (one client's test notes
// WeChat's 879-byte page saying so). For anything else the docs' own
// wording: "若提示“该链接无法访问”，请检查参数是否填写错误".
const (
	qrScopeError    = "Scope 参数错误或没有 Scope 权限"
	qrRedirectError = "redirect_uri 参数错误"
	linkUnusable    = "该链接无法访问"
)

// pageError is an authorize request WeChat refuses with its error page.
type pageError struct {
	errcode int    // the documented code shown, or 0 for a page without one
	msg     string // what the page says
	detail  string // why, in wxmock's words, for the developer reading the page
}

func pageErr(errcode int, detail string) *pageError {
	return &pageError{errcode: errcode, msg: pageErrmsgs[errcode], detail: detail}
}

// page wraps an authorize page as api wraps an API: the call is counted and
// delayed like any, an injected fault shows the error page with its errcode
// before the request is looked at (no code is minted and nobody queued with
// NextOAuthUser is consumed), and the handler's answer becomes a 302 to the
// redirect_uri or WeChat's error page.
func (s *Server) page(path string, h func(*http.Request) (string, *pageError)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.enter(path, r) {
			return
		}
		if errcode := s.takeFault(path); errcode != 0 {
			msg := pageErrmsgs[errcode]
			if msg == "" {
				msg = errmsgs[errcode]
			}
			if msg == "" {
				msg = fmt.Sprintf("wxmock injected error %d", errcode)
			}
			writeErrorPage(w, &pageError{errcode: errcode, msg: msg, detail: "injected with Fail"})
			return
		}
		location, perr := h(r)
		if perr != nil {
			writeErrorPage(w, perr)
			return
		}
		http.Redirect(w, r, location, http.StatusFound)
	})
}

// writeErrorPage renders WeChat's error page: HTTP 200, HTML, "Oops!
// Something went wrong:(" over the message — the page developers describe
// (for instance when oauth2/authorize is opened outside WeChat). The
// X-Wxmock-Errcode header, the fake's own, repeats the errcode for tests.
func writeErrorPage(w http.ResponseWriter, e *pageError) {
	msg := e.msg
	if e.errcode != 0 {
		msg += "，错误码：" + strconv.Itoa(e.errcode)
		w.Header().Set("X-Wxmock-Errcode", strconv.Itoa(e.errcode))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprintf(w, `<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>微信网页授权</title></head>
<body><div class="weui-msg"><h2 class="weui-msg__title">Oops! Something went wrong:(</h2>
<p class="weui-msg__desc">%s</p>
<p class="wxmock-detail">wxmock: %s</p></div></body></html>
`, html.EscapeString(msg), html.EscapeString(e.detail)) // the client has gone; nothing to tell it
}

// authorize is GET /connect/oauth2/authorize, an official account's web
// authorization page. Its checks, in order: 10012, 10011, 10010 for a
// missing appid, redirect_uri or scope; "该链接无法访问" when response_type is
// not code or the five parameters are out of the documented order (the docs:
// "微信会对授权链接做正则强匹配校验，如果链接的参数顺序不对，授权页面将无法正常访问");
// 10003 for an AppID the fake does not serve (WeChat documents no code for
// it; developers list "appid不正确" first among the causes of its domain
// error, then worded "redirect_uri 参数错误") or a redirect_uri that is not an
// http(s) URL on one of Config.OAuthDomains; 10005 for a scope other than
// snsapi_base or snsapi_userinfo (snsapi_login included); "该链接无法访问" for
// a state that breaks the documented rule ("a-zA-Z0-9的参数值，最多128字节").
// state may be empty (the docs mark it optional; 10013 is not answered).
func (s *Server) authorize(r *http.Request) (string, *pageError) {
	q := r.URL.Query()
	appid, redirect, scope, state := q.Get("appid"), q.Get("redirect_uri"), q.Get("scope"), q.Get("state")
	switch {
	case appid == "":
		return "", pageErr(pageAppIDMissing, "appid is missing")
	case redirect == "":
		return "", pageErr(pageRedirectMissing, "redirect_uri is missing")
	case scope == "":
		return "", pageErr(pageScopeMissing, "scope is missing")
	case q.Get("response_type") != "code":
		return "", &pageError{msg: linkUnusable, detail: `response_type must be "code"`}
	}
	if detail := paramOrderProblem(r.URL.RawQuery); detail != "" {
		return "", &pageError{msg: linkUnusable, detail: detail}
	}
	a := s.byID[appid]
	if a == nil {
		return "", pageErr(pageRedirectMismatch, fmt.Sprintf("this wxmock serves no app %q (it serves %v)", appid, s.AppIDs()))
	}
	target, detail := s.checkRedirect(redirect)
	if detail != "" {
		return "", pageErr(pageRedirectMismatch, detail)
	}
	if scope != ScopeBase && scope != ScopeUserInfo {
		return "", pageErr(pageScopeDenied, fmt.Sprintf("scope %q: an official account's page grants snsapi_base or snsapi_userinfo (snsapi_login is qrconnect's)", scope))
	}
	if !validState(state) {
		return "", &pageError{msg: linkUnusable, detail: "state must be at most 128 characters of [a-zA-Z0-9]"}
	}
	code := s.consent(a, q, scope, true)
	return withCode(target, code, state), nil
}

// qrConnect is GET /connect/qrconnect, a website's QR code login page: the
// fake plays the user who scans and confirms. An AppID it does not serve and
// a response_type other than code get "该链接无法访问", a redirect_uri that is
// missing, not an http(s) URL or off Config.OAuthDomains "redirect_uri 参数错
// 误", a scope other than snsapi_login "Scope 参数错误或没有 Scope 权限".
// state comes back as given (the website docs set it no rule); a snapshot
// login does not exist here, so snapshot choices are ignored.
func (s *Server) qrConnect(r *http.Request) (string, *pageError) {
	q := r.URL.Query()
	appid := q.Get("appid")
	a := s.byID[appid]
	switch {
	case appid == "":
		return "", &pageError{msg: linkUnusable, detail: "appid is missing"}
	case a == nil:
		return "", &pageError{msg: linkUnusable, detail: fmt.Sprintf("this wxmock serves no app %q (it serves %v)", appid, s.AppIDs())}
	case q.Get("response_type") != "code":
		return "", &pageError{msg: linkUnusable, detail: `response_type must be "code"`}
	}
	target, detail := s.checkRedirect(q.Get("redirect_uri"))
	if detail != "" {
		return "", &pageError{msg: qrRedirectError, detail: detail}
	}
	if scope := q.Get("scope"); scope != ScopeLogin {
		return "", &pageError{msg: qrScopeError, detail: fmt.Sprintf("scope %q: the website login page grants snsapi_login only", scope)}
	}
	code := s.consent(a, q, ScopeLogin, false)
	return withCode(target, code, q.Get("state")), nil
}

// authorizeOrder is the order WeChat's docs give the authorize URL's
// parameters in, which oauth2/authorize insists on. url.Values.Encode sorts
// keys, and happens to produce it.
var authorizeOrder = []string{"appid", "redirect_uri", "response_type", "scope", "state"}

// paramOrderProblem says what is wrong with the order of the documented
// parameters in rawQuery, or "" when they come in authorizeOrder. Other
// parameters (mock_user, connect_redirect, …) may stand anywhere.
func paramOrderProblem(rawQuery string) string {
	last, lastName := -1, ""
	seen := make(map[string]bool)
	for part := range strings.SplitSeq(rawQuery, "&") {
		key, _, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
		i := slices.Index(authorizeOrder, key)
		if i < 0 || seen[key] {
			continue
		}
		seen[key] = true
		if i < last {
			return fmt.Sprintf("%s comes after %s; WeChat wants the parameters in the order %s", key, lastName, strings.Join(authorizeOrder, ", "))
		}
		last, lastName = i, key
	}
	return ""
}

// validState applies the official account docs' rule to state: "开发者可以填
// 写a-zA-Z0-9的参数值，最多128字节".
func validState(state string) bool {
	if len(state) > 128 {
		return false
	}
	for _, c := range []byte(state) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// checkRedirect parses a redirect_uri and checks it against
// Config.OAuthDomains. It returns the URL, or why WeChat would refuse it.
func (s *Server) checkRedirect(raw string) (*url.URL, string) {
	if raw == "" {
		return nil, "redirect_uri is missing"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Sprintf("redirect_uri %q is not an absolute http or https URL", raw)
	}
	if len(s.cfg.OAuthDomains) > 0 && !domainAllowed(s.cfg.OAuthDomains, u) {
		return nil, fmt.Sprintf("redirect_uri host %q is not one of the authorization domains %v", u.Host, s.cfg.OAuthDomains)
	}
	return u, ""
}

// domainAllowed reports whether u's host is one of domains: the full host
// name, and the port too when the entry names one.
func domainAllowed(domains []string, u *url.URL) bool {
	for _, d := range domains {
		if _, _, err := net.SplitHostPort(d); err == nil {
			if strings.EqualFold(u.Host, d) {
				return true
			}
			continue
		}
		if strings.EqualFold(u.Hostname(), strings.Trim(d, "[]")) {
			return true
		}
	}
	return false
}

// withCode is where WeChat sends the browser: redirect_uri with code and
// state appended to its query (after any it has, before any fragment —
// developers of hash-routed pages see "xxx.com:8080/?code=xxxx&state=xxx#/login").
// state is always there, empty when the request had none.
func withCode(target *url.URL, code, state string) string {
	u := *target
	add := "code=" + url.QueryEscape(code) + "&state=" + url.QueryEscape(state)
	if u.RawQuery == "" {
		u.RawQuery = add
	} else {
		u.RawQuery += "&" + add
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String()
}

// nextLogin is a user queued to log in at app's next authorize page.
type nextLogin struct {
	user     string
	snapshot bool
}

// consent plays the user consenting on an authorize page of app a and mints
// their code. Who: the URL's mock_user when it names one (mock_snapshot=1
// makes it a snapshot login), else the first user queued for the app, else
// DefaultOAuthUser. snapshotOK is false on qrconnect, which has no snapshot
// mode.
func (s *Server) consent(a *AppHandle, q url.Values, scope string, snapshotOK bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	login := nextLogin{user: DefaultOAuthUser}
	switch {
	case q.Get("mock_user") != "":
		login.user = q.Get("mock_user")
	case len(a.oauthNext) > 0:
		login = a.oauthNext[0]
		a.oauthNext = a.oauthNext[1:]
	}
	if isTrue(q.Get("mock_snapshot")) {
		login.snapshot = true
	}
	login.snapshot = login.snapshot && snapshotOK
	return s.mintOAuthCodeLocked(a, login.user, scope, login.snapshot)
}

func isTrue(v string) bool { return v == "1" || v == "true" }

// NextOAuthUser makes user the one who logs in at the next authorize page
// (oauth2/authorize or qrconnect) of the default app, and returns the
// openid the code exchange will answer. Calls queue up: each decides one
// authorize, in order; with none queued the page logs in DefaultOAuthUser.
// A URL with mock_user=U logs in U and leaves the queue alone.
func (s *Server) NextOAuthUser(user string) string { return s.apps[0].NextOAuthUser(user) }

// NextOAuthUser is Server.NextOAuthUser for this app; each app has its own
// queue.
func (a *AppHandle) NextOAuthUser(user string) string { return a.queueLogin(user, false) }

// NextOAuthSnapshot queues user like NextOAuthUser, but on a snapshot page
// (快照页) of the default app: the user opened a shared page whose
// snsapi_userinfo request WeChat blocked, and "开发者在快照页内所获取的头像、昵
// 称、openId、unionId 均为虚拟账号数据" (WeChat's 2022 网页授权能力调整公告). The
// code exchange answers is_snapshotuser 1 and a virtual openid, which it
// returns — SnapshotOpenID(user), not OpenID(user). A qrconnect page taking
// this turn logs user in normally.
func (s *Server) NextOAuthSnapshot(user string) string { return s.apps[0].NextOAuthSnapshot(user) }

// NextOAuthSnapshot is Server.NextOAuthSnapshot for this app.
func (a *AppHandle) NextOAuthSnapshot(user string) string { return a.queueLogin(user, true) }

func (a *AppHandle) queueLogin(user string, snapshot bool) string {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	a.oauthNext = append(a.oauthNext, nextLogin{user: user, snapshot: snapshot})
	if snapshot {
		return snapshotOpenID(a.id, user)
	}
	return a.knowLocked(user)
}
