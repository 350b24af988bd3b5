// Package wxapi forwards a backend's calls of WeChat's server APIs to WeChat
// with the deployment's shared access_token put in, so that backends hold no
// AppSecret and fetch no token — and so never break each other's with a
// fetch of their own. Legacy backends that do fetch one through
// cgi-bin/token or cgi-bin/stable_token are answered from the shared token.
// It knows nothing of Caddy.
package wxapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/wxauth/caddy-wxauth/wechat"
)

// TokenSource is an account's shared access_token (wechat.SharedTokenSource).
type TokenSource interface {
	AccessToken(ctx context.Context) (wechat.AccessToken, error)
	ForceRefresh(ctx context.Context) (wechat.AccessToken, error)
	Invalidate(ctx context.Context, bad string) error
}

// Account is an app whose access_token the proxy puts into calls.
type Account struct {
	AppID string
	// BaseURL is WeChat's API base for this app, e.g. https://api.weixin.qq.com.
	BaseURL string
	// AppSecret checks a legacy backend's own token request; it is never
	// sent anywhere by the proxy.
	AppSecret string
	Tokens    TokenSource
}

// Proxy forwards calls for Accounts[0], or for the account a call's
// from_appid names.
type Proxy struct {
	// HTTPClient sends the calls; it must follow no redirect.
	HTTPClient *http.Client
	Accounts   []*Account
	// MaxBody bounds a call's body, which is kept for the one retry.
	MaxBody int64
}

// Call is what one call did, for logs and metrics.
type Call struct {
	AppID   string
	Outcome string // "ok", WeChat's errcode, "token" (answered here), "refused", "unreachable"
	Retried bool   // the shared token was refused, refreshed and the call repeated
	Err     error  // why it failed, for the log; never holds a secret
}

// maxJSONAnswer bounds the JSON answers read to look for a refused token;
// WeChat's are small. A larger answer streams through unread.
const maxJSONAnswer = 1 << 20

// The errors the proxy answers itself, shaped as WeChat's.
var (
	errUnreachable = apiError{http.StatusBadGateway, -1, "system error: WeChat unreachable"}
	errTooLarge    = apiError{http.StatusRequestEntityTooLarge, 44002, "empty post data or body too large for wxapi max_body"}
	errNoToken     = apiError{http.StatusBadGateway, -1, "system error: no access_token could be had"}
	errRedirected  = apiError{http.StatusBadGateway, -1, "system error: WeChat answered a redirect"}
)

// apiError is an answer in WeChat's shape, {"errcode","errmsg"}.
type apiError struct {
	status int
	code   int
	msg    string
}

// Refuse answers w with WeChat's errcode and errmsg and HTTP status.
func Refuse(w http.ResponseWriter, status, errcode int, errmsg string) {
	apiError{status, errcode, errmsg}.write(w)
}

func (e apiError) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}{e.code, e.msg})
}

// ServeHTTP forwards r, whose path is WeChat's API path, and reports what
// happened.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) Call {
	acc, ok := p.account(r.URL.Query().Get("from_appid"))
	if !ok {
		apiError{http.StatusForbidden, 40013, "invalid appid: from_appid is not an account of this wxapi"}.write(w)
		return Call{Outcome: "refused", Err: errors.New("unknown from_appid")}
	}
	call := Call{AppID: acc.AppID}
	switch apiPath(r) {
	case "/cgi-bin/token", "/cgi-bin/stable_token":
		return p.answerToken(w, r)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.MaxBody))
	if err != nil {
		errTooLarge.write(w)
		call.Outcome, call.Err = "refused", fmt.Errorf("body over max_body (%d bytes)", p.MaxBody)
		return call
	}
	var (
		refused     string         // the token WeChat refused on the first attempt
		refusedCode int            // and its errcode
		lastRefusal *http.Response // that answer, sent on if no other token can be had
		lastAnswer  []byte
	)
	for attempt := 0; ; attempt++ {
		tok, err := acc.Tokens.AccessToken(r.Context())
		if err != nil {
			errNoToken.write(w)
			call.Outcome, call.Err = "unreachable", fmt.Errorf("getting the access_token: %w", err)
			return call
		}
		if attempt > 0 && tok.Token == refused {
			// No fresh token could be had (forced refreshes are rationed):
			// WeChat's refusal stands.
			copyAnswer(w, lastRefusal, lastAnswer)
			call.Outcome = fmt.Sprint(refusedCode)
			return call
		}
		resp, err := p.forward(r, acc.BaseURL, body, tok.Token)
		if err != nil {
			errUnreachable.write(w)
			call.Outcome, call.Err = "unreachable", err
			return call
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			// A redirect's Location would carry the access_token to the
			// caller, and nothing of WeChat's answers in place.
			resp.Body.Close()
			errRedirected.write(w)
			call.Outcome, call.Err = "unreachable", fmt.Errorf("WeChat answered %s with HTTP %d", apiPath(r), resp.StatusCode)
			return call
		}
		answer, code, full := readErrcode(resp)
		if attempt == 0 && full && wechat.IsTokenRejected(&wechat.APIError{Code: code}) {
			resp.Body.Close() // read whole: full
			call.Retried = true
			refused, refusedCode, lastRefusal, lastAnswer = tok.Token, code, resp, answer
			if err := acc.Tokens.Invalidate(context.WithoutCancel(r.Context()), tok.Token); err != nil {
				call.Err = fmt.Errorf("invalidating the refused access_token: %w", err)
			}
			continue
		}
		call.Outcome = "ok"
		if code != 0 {
			call.Outcome = fmt.Sprint(code)
		}
		copyAnswer(w, resp, answer)
		resp.Body.Close()
		return call
	}
}

// apiPath is r's path resolved, as the allow list judged it: what is
// checked is what is called ("/x/../cgi-bin/token" is /cgi-bin/token).
func apiPath(r *http.Request) string {
	return path.Clean("/" + r.URL.Path)
}

// account is the account from_appid names, or the first without it.
func (p *Proxy) account(fromAppID string) (*Account, bool) {
	if fromAppID == "" {
		return p.Accounts[0], true
	}
	for _, a := range p.Accounts {
		if a.AppID == fromAppID {
			return a, true
		}
	}
	return nil, false
}

// forward sends r to WeChat with body and the access_token tok in place of
// any the caller sent; from_appid, Cloud Run's resource-reuse parameter,
// stays here.
func (p *Proxy) forward(r *http.Request, baseURL string, body []byte, tok string) (*http.Response, error) {
	q := r.URL.Query()
	q.Del("from_appid")
	q.Del("cloudbase_access_token")
	q.Set("access_token", tok)
	target := strings.TrimRight(baseURL, "/") + (&url.URL{Path: apiPath(r)}).EscapedPath() + "?" + q.Encode()
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target, bytes.NewReader(body))
	if err != nil {
		// Not wrapped: its text quotes the URL, access_token included.
		return nil, fmt.Errorf("building the request to %s failed", apiPath(r))
	}
	for _, name := range []string{"Content-Type", "Accept"} {
		if v := r.Header.Get(name); v != "" {
			req.Header.Set(name, v)
		}
	}
	resp, err := p.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text quotes the URL, access_token included
		}
		return nil, fmt.Errorf("calling %s: %w", apiPath(r), err)
	}
	return resp, nil
}

// readErrcode reads a JSON answer (WeChat labels some text/plain) up to
// maxJSONAnswer and returns it with its errcode; full is false when the
// answer is not JSON or too large, and then nothing or only a prefix was
// read, which copyAnswer sends first.
func readErrcode(resp *http.Response) (read []byte, errcode int, full bool) {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/json" && mt != "text/plain" {
		return nil, 0, false
	}
	read, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONAnswer+1))
	if err != nil || len(read) > maxJSONAnswer {
		return read, 0, false
	}
	var status struct {
		ErrCode int `json:"errcode"`
	}
	if json.Unmarshal(read, &status) != nil {
		return read, 0, false
	}
	return read, status.ErrCode, true
}

// dropped are the answer headers never passed on: those of one connection,
// and those that could point elsewhere or set state at the caller.
// Content-Length stays: the body goes on unchanged.
var dropped = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Location", "Content-Location", "Refresh", "Set-Cookie"}

// copyAnswer sends WeChat's answer on as it came: status, headers, read
// (what was already read of the body), then the rest of the body.
func copyAnswer(w http.ResponseWriter, resp *http.Response, read []byte) {
	h := w.Header()
	for name, values := range resp.Header {
		h[name] = values
	}
	for _, name := range dropped {
		h.Del(name)
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(read)
	io.Copy(w, resp.Body)
}

// tokenRequest is a legacy backend's cgi-bin/token query or stable_token body.
type tokenRequest struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

// answerToken answers cgi-bin/token and stable_token from the shared token,
// as WeChat would: refusals are HTTP 200 with an errcode.
func (p *Proxy) answerToken(w http.ResponseWriter, r *http.Request) Call {
	var req tokenRequest
	if apiPath(r) == "/cgi-bin/token" {
		q := r.URL.Query()
		req = tokenRequest{GrantType: q.Get("grant_type"), AppID: q.Get("appid"), Secret: q.Get("secret")}
	} else if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		apiError{http.StatusOK, 47001, "data format error"}.write(w)
		return Call{Outcome: "47001", Err: errors.New("stable_token body is not JSON")}
	}
	acc, known := p.account(req.AppID)
	switch {
	case req.AppID == "" || !known:
		apiError{http.StatusOK, 40013, "invalid appid"}.write(w)
		return Call{Outcome: "40013", Err: errors.New("token request for an appid not served here")}
	case subtle.ConstantTimeCompare([]byte(req.Secret), []byte(acc.AppSecret)) != 1:
		apiError{http.StatusOK, 40125, "invalid appsecret"}.write(w)
		return Call{AppID: acc.AppID, Outcome: "40125", Err: errors.New("token request with a wrong secret")}
	case req.GrantType != "client_credential":
		apiError{http.StatusOK, 40002, "invalid grant_type"}.write(w)
		return Call{AppID: acc.AppID, Outcome: "40002", Err: errors.New("token request with another grant_type")}
	}
	get := acc.Tokens.AccessToken
	if req.ForceRefresh {
		get = acc.Tokens.ForceRefresh
	}
	tok, err := get(r.Context())
	if err != nil {
		errNoToken.write(w)
		return Call{AppID: acc.AppID, Outcome: "unreachable", Err: err}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}{tok.Token, int64(time.Until(tok.Expiry) / time.Second)})
	return Call{AppID: acc.AppID, Outcome: "token"}
}
