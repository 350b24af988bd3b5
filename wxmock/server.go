package wxmock

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Demo credentials used when Config leaves AppID or AppSecret empty, and by
// cmd/wxmock without flags. They are fake: WeChat knows no such app.
const (
	DemoAppID     = "wx0123456789abcdef"
	DemoAppSecret = "wxmock-demo-secret"
)

// The WeChat API paths the fake serves, for Fail and for building URLs.
const (
	PathJSCode2Session     = "/sns/jscode2session"
	PathStableToken        = "/cgi-bin/stable_token"
	PathToken              = "/cgi-bin/token"
	PathGetUserPhoneNumber = "/wxa/business/getuserphonenumber"
	PathCheckSession       = "/wxa/checksession"
	PathMsgSecCheck        = "/wxa/msg_sec_check"
	PathGetWXACodeUnlimit  = "/wxa/getwxacodeunlimit"
	PathMediaUpload        = "/cgi-bin/media/upload"
	PathGetCallbackIP      = "/cgi-bin/getcallbackip"
	PathSubscribeSend      = "/cgi-bin/message/subscribe/send"

	// Web OAuth (see oauthpage.go and oauth.go). The two pages live on
	// open.weixin.qq.com, the two APIs on api.weixin.qq.com; the fake serves
	// all four under its own base.
	PathOAuthAuthorize   = "/connect/oauth2/authorize" // official accounts' web authorization page
	PathQRConnect        = "/connect/qrconnect"        // websites' QR code login page
	PathOAuthAccessToken = "/sns/oauth2/access_token"  // code → web access_token
	PathSNSUserInfo      = "/sns/userinfo"             // web access_token → profile
)

// maxBody bounds the JSON bodies the fake reads.
const maxBody = 64 << 10

var apiPaths = []string{
	PathJSCode2Session,
	PathStableToken,
	PathToken,
	PathGetUserPhoneNumber,
	PathCheckSession,
	PathMsgSecCheck,
	PathGetWXACodeUnlimit,
	PathMediaUpload,
	PathGetCallbackIP,
	PathSubscribeSend,
	PathOAuthAuthorize,
	PathQRConnect,
	PathOAuthAccessToken,
	PathSNSUserInfo,
}

// Config describes the apps the fake serves and how it behaves. The zero
// value is usable: it serves DemoAppID/DemoAppSecret with two-hour tokens.
type Config struct {
	// AppID and AppSecret are one app the fake serves: jscode2session and
	// the token endpoints accept this AppID with this AppSecret (an unknown
	// AppID gets 40013, a wrong secret 40125). It is the default app, the one
	// the Server's own helpers (Code, OpenID, …) and the /mock/ endpoints
	// without ?appid= act for. An empty field defaults to DemoAppID /
	// DemoAppSecret; when both are empty and Apps is not, the pair is left
	// out and Apps[0] is the default app.
	AppID, AppSecret string

	// Apps are more apps served by the same fake, as WeChat serves any
	// number of AppIDs — say the mini programs and official accounts of one
	// company. Each checks its own credentials and gets its own openids,
	// session_keys and access_tokens; codes and access_tokens work only for
	// the app they were minted for. Every field is required; an AppID given
	// twice must come with the same AppSecret (it is then served once). New
	// panics on a mistake here. Default none: only AppID is served.
	Apps []App

	// UnionID makes jscode2session answer with a unionid, as it does for
	// apps bound to an Open Platform account. It applies to every app, and
	// a user's unionid is the same in all of them. Default false.
	UnionID bool

	// TokenTTL is the lifetime of an access_token (its expires_in). Default
	// 7200 s, WeChat's value.
	TokenTTL time.Duration

	// Latency is added to every WeChat API call (not to /mock/ calls), to
	// make benchmarks and timeout tests meet a slow WeChat. Default 0.
	Latency time.Duration

	// CountryCodeNumber makes getuserphonenumber send phone_info.countryCode
	// as a JSON number (86), as WeChat's documentation shows. Default false:
	// a JSON string ("86"), as WeChat sends in practice. Clients should
	// accept both; this switch lets them test both.
	CountryCodeNumber bool

	// RiskyWords make msg_sec_check judge a text "risky" (label 20006) when
	// its content, title, nickname or signature contains one of them,
	// compared case-insensitively; the first to match is reported. WeChat's
	// real judgement cannot be reproduced, so the fake's is a word list a
	// test controls. Default (nil): DefaultRiskyWords. An empty non-nil
	// slice makes nothing risky.
	RiskyWords []string

	// ReviewWords make msg_sec_check answer "review" (label 21000) for a
	// text that contains one of them and no risky word. Default (nil):
	// DefaultReviewWords. An empty non-nil slice makes nothing need review.
	ReviewWords []string

	// OAuthDomains are the authorization callback domains (网页授权域名 of
	// an official account, 授权回调域 of a website app) of every app: the
	// authorize pages redirect only to a redirect_uri on one of them, and
	// show error 10003 (qrconnect: "redirect_uri 参数错误") otherwise. As
	// on WeChat the match is on the full host name ("www.qq.com" does not
	// admit pay.qq.com or qq.com); an entry with a port ("127.0.0.1:8080",
	// as WeChat's test accounts allow) admits only that port, one without
	// admits any. Default none: any http or https redirect_uri is accepted.
	OAuthDomains []string

	// Now is the clock, so tests can expire codes and tokens without
	// sleeping. Default time.Now.
	Now func() time.Time
}

// Server is a fake WeChat server for one or more apps. It is an
// http.Handler; mount it on an httptest.Server or run cmd/wxmock. Its helper
// methods act for the default app (see Config.AppID); App returns the same
// helpers for another. All methods are safe for concurrent use.
type Server struct {
	cfg  Config
	mux  *http.ServeMux
	apps []*AppHandle          // in Config order, the default first; fixed after New
	byID map[string]*AppHandle // the same, by AppID

	mu           sync.Mutex
	codes        map[string]*loginCode   // every app's wx.login codes, by code
	phoneCodes   map[string]*phoneCode   // every app's getPhoneNumber codes, by code
	codesPruned  time.Time               // last pruneCodes sweep
	tokens       map[string]*accessToken // every app's access_tokens, by value
	tokensPruned time.Time               // last pruneTokens sweep
	faults       map[string]*fault       // by API path
	calls        map[string]int          // by API path
	sent         []SentMessage           // every app's subscribe messages, oldest first
	uploads      []Upload                // every app's media uploads, oldest first
	oauthCodes   map[string]*oauthCode   // every app's web OAuth codes, by code
	webTokens    map[string]*webToken    // every app's web access_tokens, by value
	webPruned    time.Time               // last pruneWebTokens sweep
}

type fault struct {
	errcode int
	times   int // < 0: until cleared
}

// New returns a fake WeChat configured by cfg. It panics if cfg.Apps is
// inconsistent (see Config.Apps).
func New(cfg Config) *Server {
	apps, err := appsOf(cfg)
	if err != nil {
		panic(err)
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 7200 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RiskyWords == nil {
		cfg.RiskyWords = DefaultRiskyWords
	}
	if cfg.ReviewWords == nil {
		cfg.ReviewWords = DefaultReviewWords
	}
	cfg.RiskyWords = slices.Clone(cfg.RiskyWords)
	cfg.ReviewWords = slices.Clone(cfg.ReviewWords)
	cfg.OAuthDomains = slices.Clone(cfg.OAuthDomains)
	s := &Server{
		cfg:        cfg,
		mux:        http.NewServeMux(),
		byID:       make(map[string]*AppHandle),
		codes:      make(map[string]*loginCode),
		phoneCodes: make(map[string]*phoneCode),
		tokens:     make(map[string]*accessToken),
		faults:     make(map[string]*fault),
		oauthCodes: make(map[string]*oauthCode),
		webTokens:  make(map[string]*webToken),
	}
	for _, app := range apps {
		s.addApp(app)
	}
	s.resetCounters()

	s.mux.Handle(PathJSCode2Session, s.api(PathJSCode2Session, s.jscode2session))
	s.mux.Handle(PathStableToken, s.api(PathStableToken, s.stableToken))
	s.mux.Handle(PathToken, s.api(PathToken, s.token))
	s.mux.Handle(PathGetUserPhoneNumber, s.api(PathGetUserPhoneNumber, s.getUserPhoneNumber))
	s.mux.Handle(PathCheckSession, s.api(PathCheckSession, s.checkSession))
	s.mux.Handle(PathMsgSecCheck, s.api(PathMsgSecCheck, s.msgSecCheck))
	s.mux.Handle(PathGetWXACodeUnlimit, s.api(PathGetWXACodeUnlimit, s.getWXACodeUnlimit))
	s.mux.Handle(PathMediaUpload, s.api(PathMediaUpload, s.mediaUpload))
	s.mux.Handle(PathGetCallbackIP, s.api(PathGetCallbackIP, s.getCallbackIP))
	s.mux.Handle(PathSubscribeSend, s.api(PathSubscribeSend, s.subscribeSend))
	s.mux.Handle(PathOAuthAuthorize, s.page(PathOAuthAuthorize, s.authorize))
	s.mux.Handle(PathQRConnect, s.page(PathQRConnect, s.qrConnect))
	s.mux.Handle(PathOAuthAccessToken, s.api(PathOAuthAccessToken, s.oauthAccessToken))
	s.mux.Handle(PathSNSUserInfo, s.api(PathSNSUserInfo, s.snsUserInfo))
	s.registerControl()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{ErrCode: http.StatusNotFound, ErrMsg: "wxmock: no such API: " + r.URL.Path})
	})
	return s
}

// ServeHTTP answers WeChat's API paths and the /mock/ control endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// api wraps a WeChat API handler with what every call goes through: the call
// counter, the configured latency, injected faults, and rendering the answer
// (a wxError becomes that API's errmsg; every JSON answer gets the API's
// Content-Type; a rawBody is sent as it is, under its own). A fault answers
// before the request is read, so it consumes no code and issues no token — a
// client that retries after -1 can retry with the same code.
func (s *Server) api(path string, h func(*http.Request) any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.enter(path, r) {
			return
		}

		var v any
		if errcode := s.takeFault(path); errcode != 0 {
			v = wxError(errcode)
		} else {
			v = h(r)
		}
		switch e := v.(type) {
		case wxError:
			v = s.errorBody(path, int(e))
		case wxErrorDetail:
			v = s.errorBodyMsg(path, e.code, e.msg)
		case rawBody:
			w.Header().Set("Content-Type", e.contentType)
			w.Header().Set("Content-Length", strconv.Itoa(len(e.data)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(e.data) // the client has gone; nothing to tell it
			return
		}
		w.Header().Set("Content-Type", contentType(path))
		writeBody(w, http.StatusOK, v)
	})
}

// enter does what every call to a WeChat path goes through before it is
// answered: it counts the call and waits out Config.Latency. It returns
// false when the client gave up while waiting; there is nobody to answer.
func (s *Server) enter(path string, r *http.Request) bool {
	s.mu.Lock()
	s.calls[path]++
	s.mu.Unlock()

	if d := s.cfg.Latency; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		}
	}
	return true
}

// rawBody is a successful answer that is not JSON — an image — sent with
// its own Content-Type. Errors from the same API are JSON as usual.
type rawBody struct {
	contentType string
	data        []byte
}

// contentType is the Content-Type WeChat labels an API's answers with, errors
// included; the body is JSON either way.
//
// The /sns/ APIs answer text/plain. jscode2session: captured answers show
// it, and Spring clients ship a converter for it ("Fix WeChat Code2Session
// Server Response Context-Type Bug" in
// github.com/FightingGuys/spring-wechat-miniprogram-security,
// WeChatC2SJacksonHttpMessageConverter.java, which accepts text/plain). The
// web OAuth token endpoint, sns/oauth2/access_token: an OAuth library was
// asked to accept text/plain JSON from it ("China's wechat api response
// content-type is `text/plain` but the body is valid JSON",
// github.com/panva/oauth4webapi/pull/155). Both web OAuth APIs:
// github.com/samsong8610/spring-social-wechat registers text/plain as the
// only JSON type for its token exchange (WeChatOAuth2Template.java,
// createJsonHttpMessageConverter) and for sns/userinfo (WeChatTemplate.java,
// getJsonMessageConverter).
//
// The others keep application/json: no capture or SDK found says otherwise
// for them. That includes getwxacodeunlimit's errors (its image has its own
// type, see rawBody): WxJava fixed its QR code executor to expect errors as
// application/json, not text/plain (binarywang/WxJava#317, 2017; #2301,
// 2021: "当微信生成小程序码返回异常时的Content-Type为application/json"), and
// silenceper/wechat (miniprogram/qrcode/qrcode.go) treats application/json as
// the error and image/jpeg as the code. Older reports of text/plain JSON from /cgi-bin/ and
// /wxa/ concern other APIs — media downloads and QR codes answering an error
// instead of a file (node-webot/wechat-api#126 and #138, Eric-Guo/wechat#184,
// binarywang/WxJava#444). Go SDKs are no witness either way:
// silenceper/wechat (util/http.go, util/error.go) unmarshals the body without
// looking at Content-Type.
func contentType(path string) string {
	if strings.HasPrefix(path, "/sns/") {
		return "text/plain"
	}
	return "application/json"
}

func (s *Server) takeFault(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults[path]
	if f == nil {
		return 0
	}
	if f.times > 0 {
		f.times--
		if f.times == 0 {
			delete(s.faults, path)
		}
	}
	return f.errcode
}

// Fail makes the next times calls to the WeChat API at path answer errcode
// (for example -1 system busy, 45011 frequency limit, 40226 high-risk user)
// before normal service resumes. On an authorize page (PathOAuthAuthorize,
// PathQRConnect) the fault is WeChat's error page showing errcode (10009
// too frequent, 10004 account banned, …) instead of the redirect. times < 0 fails every call until
// Fail(path, 0, 0) clears it; errcode 0 or times 0 clears. A later Fail for the
// same path replaces the earlier one.
//
// path must be one of the Path constants; any other panics, because a fault
// that can never fire would let a test pass for the wrong reason.
func (s *Server) Fail(path string, errcode, times int) {
	if err := checkAPIPath(path); err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if errcode == 0 || times == 0 {
		delete(s.faults, path)
		return
	}
	s.faults[path] = &fault{errcode: errcode, times: times}
}

func checkAPIPath(path string) error {
	if !slices.Contains(apiPaths, path) {
		return fmt.Errorf("wxmock: unknown API path %q (known: %v)", path, apiPaths)
	}
	return nil
}

// Stats counts what clients did. Maps are fresh copies.
type Stats struct {
	// TokenFetches counts successful answers that handed out an
	// access_token, by endpoint: "stable_token" and "token", summed over
	// all apps. A stable_token call that returns the still-current token
	// counts too, so this is the number to assert on when testing that a
	// client caches its token.
	TokenFetches map[string]int `json:"token_fetches"`

	// TokensIssued counts distinct access_tokens minted, by endpoint,
	// summed over all apps.
	TokensIssued map[string]int `json:"tokens_issued"`

	// Calls counts every request to each WeChat API path and authorize
	// page, failed ones and injected faults included. /mock/ calls are not
	// counted.
	Calls map[string]int `json:"calls"`

	// Apps breaks TokenFetches and TokensIssued down by AppID; every app
	// served has an entry. Stats().Apps[appid].TokenFetches["stable_token"]
	// is the number to assert on when several clients should share one
	// app's token.
	Apps map[string]AppStats `json:"apps"`
}

// Stats returns the counters since New or the last Reset.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		TokenFetches: map[string]int{endpointStable: 0, endpointToken: 0},
		TokensIssued: map[string]int{endpointStable: 0, endpointToken: 0},
		Calls:        maps.Clone(s.calls),
		Apps:         make(map[string]AppStats, len(s.apps)),
	}
	for _, a := range s.apps {
		as := a.stats()
		for k, n := range as.TokenFetches {
			st.TokenFetches[k] += n
		}
		for k, n := range as.TokensIssued {
			st.TokensIssued[k] += n
		}
		st.Apps[a.id] = as
	}
	return st
}

// Reset clears the counters (of every app), the records of sent messages and
// uploads, all injected faults and the users queued with NextOAuthUser and
// NextOAuthSnapshot. Codes, users, sessions and tokens survive, so a test
// may reset between phases of one scenario.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetCounters()
	clear(s.faults)
	s.sent = nil
	s.uploads = nil
	for _, a := range s.apps {
		a.oauthNext = nil
	}
}

func (s *Server) resetCounters() {
	s.calls = make(map[string]int)
	for _, p := range apiPaths {
		s.calls[p] = 0
	}
	for _, a := range s.apps {
		a.resetCounters()
	}
}

func (s *Server) now() time.Time { return s.cfg.Now() }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	writeBody(w, status, v)
}

// writeBody writes v as JSON under whatever Content-Type the caller has set.
func writeBody(w http.ResponseWriter, status int, v any) {
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // WeChat does not escape '&' in URLs
	_ = enc.Encode(v)        // the client has gone; nothing to tell it
}
