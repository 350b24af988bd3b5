// Package wechat is a client for the WeChat Mini Program server APIs that
// wxauth uses. It knows nothing of Caddy.
package wechat

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultBaseURL is where WeChat's server APIs live.
const DefaultBaseURL = "https://api.weixin.qq.com"

const (
	defaultRetries = 2
	defaultBackoff = 100 * time.Millisecond
	// maxAnswer caps what is read of an answer; WeChat's are a few hundred bytes.
	maxAnswer = 1 << 20
)

// defaultHTTPClient bounds every call even when the caller's ctx has no
// deadline, and keeps enough idle connections to WeChat's one host for
// concurrent logins: http.DefaultTransport keeps 2, so under load most calls
// would open a new TLS connection to api.weixin.qq.com. It follows no
// redirect: WeChat's APIs answer in place, and a 307 would resend the
// AppSecret (stable_token's body, jscode2session's query) to wherever it points.
var defaultHTTPClient = &http.Client{
	Timeout:       10 * time.Second,
	Transport:     pooledTransport(256),
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func pooledTransport(idle int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = idle
	t.MaxIdleConnsPerHost = idle
	return t
}

// Client calls WeChat for one AppID. The zero values of the optional fields
// are usable defaults. The AppSecret never appears in an error or a log.
// A Client must not be copied after first use.
type Client struct {
	AppID     string
	AppSecret string
	// BaseURL defaults to DefaultBaseURL.
	BaseURL string
	// HTTPClient defaults to a client with a 10s timeout.
	HTTPClient *http.Client
	// Retries is how many times a call is repeated after WeChat's -1 (busy) or
	// a transport error, with exponential backoff from Backoff. Default 2, 100ms;
	// a negative Retries disables retrying.
	Retries int
	Backoff time.Duration
	// Tokens provides the access_token for the calls that need one. When nil,
	// a Client-local cache is used (one process only).
	Tokens TokenSource
	// Observe, when set, is told of every round trip to WeChat (retries
	// each count): the endpoint, its outcome — "ok", WeChat's errcode such as
	// "40029", "transport" or "bad_answer" — and how long it took. For metrics.
	Observe func(endpoint, outcome string, took time.Duration)

	localTokensOnce sync.Once
	localTokens     *SharedTokenSource
}

// Session is jscode2session's answer. SessionKey is secret: never log or return it.
type Session struct {
	OpenID     string
	UnionID    string
	SessionKey string
}

// PhoneInfo is a user's phone number as WeChat reports it.
type PhoneInfo struct {
	PhoneNumber     string    `json:"phoneNumber"`
	PurePhoneNumber string    `json:"purePhoneNumber"`
	CountryCode     string    `json:"countryCode"` // a string or a number on the wire
	Watermark       Watermark `json:"watermark"`
}

// UnmarshalJSON accepts countryCode as "86" (what WeChat sends) or 86 (what
// its documentation shows).
func (p *PhoneInfo) UnmarshalJSON(b []byte) error {
	type plain PhoneInfo // no methods, so no recursion
	aux := struct {
		*plain
		CountryCode flexString `json:"countryCode"` // shadows plain's field
	}{plain: (*plain)(p)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	p.CountryCode = string(aux.CountryCode)
	return nil
}

// flexString is a JSON string or number, kept as text.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("wechat: want a string or a number, got %.20s: %w", b, err)
	}
	*f = flexString(n.String())
	return nil
}

// Watermark is what WeChat stamps on phone and open data.
type Watermark struct {
	AppID     string `json:"appid"`
	Timestamp int64  `json:"timestamp"`
}

// Code2Session exchanges a wx.login code (GET /sns/jscode2session).
func (c *Client) Code2Session(ctx context.Context, code string) (*Session, error) {
	const endpoint = "sns/jscode2session"
	q := url.Values{
		"appid":      {c.AppID},
		"secret":     {c.AppSecret},
		"js_code":    {code},
		"grant_type": {"authorization_code"},
	}
	var ans struct {
		OpenID     string `json:"openid"`
		SessionKey string `json:"session_key"`
		UnionID    string `json:"unionid"`
	}
	if err := c.call(ctx, http.MethodGet, endpoint, q, nil, &ans); err != nil {
		return nil, err
	}
	if ans.OpenID == "" || ans.SessionKey == "" {
		return nil, fmt.Errorf("wechat: %s: answer lacks openid or session_key", endpoint)
	}
	return &Session{OpenID: ans.OpenID, UnionID: ans.UnionID, SessionKey: ans.SessionKey}, nil
}

// GetUserPhoneNumber exchanges a getPhoneNumber code (POST
// /wxa/business/getuserphonenumber). openid, when set, makes WeChat check that
// the code belongs to that user. On 40001/40014/42001 it gets a fresh
// access_token and retries once.
func (c *Client) GetUserPhoneNumber(ctx context.Context, code, openid string) (*PhoneInfo, error) {
	const endpoint = "wxa/business/getuserphonenumber"
	body := struct {
		Code   string `json:"code"`
		OpenID string `json:"openid,omitempty"`
	}{code, openid}
	var ans struct {
		PhoneInfo *PhoneInfo `json:"phone_info"`
	}
	err := c.withToken(ctx, endpoint, func(token string) error {
		return c.call(ctx, http.MethodPost, endpoint, url.Values{"access_token": {token}}, body, &ans)
	})
	if err != nil {
		return nil, err
	}
	if ans.PhoneInfo == nil || ans.PhoneInfo.PhoneNumber == "" {
		return nil, fmt.Errorf("wechat: %s: answer lacks phone_info.phoneNumber", endpoint)
	}
	return ans.PhoneInfo, nil
}

// CheckSession asks WeChat whether sessionKey is still openid's current one
// (GET /wxa/checksession, HMAC-SHA256 signature). An outdated key is an
// *APIError with CodeInvalidSignature (87009).
func (c *Client) CheckSession(ctx context.Context, openid, sessionKey string) error {
	const endpoint = "wxa/checksession"
	return c.withToken(ctx, endpoint, func(token string) error {
		q := url.Values{
			"access_token": {token},
			"signature":    {checkSessionSignature(sessionKey)},
			"openid":       {openid},
			"sig_method":   {"hmac_sha256"},
		}
		return c.call(ctx, http.MethodGet, endpoint, q, nil, nil)
	})
}

// checkSessionSignature signs the empty message with the session_key's base64
// text (not its decoded bytes) as the HMAC key, as WeChat expects.
func checkSessionSignature(sessionKey string) string {
	m := hmac.New(sha256.New, []byte(sessionKey))
	return hex.EncodeToString(m.Sum(nil))
}

// withToken runs call with the access_token and, when WeChat rejects that
// token, invalidates it and runs call once more with a fresh one.
func (c *Client) withToken(ctx context.Context, endpoint string, call func(token string) error) error {
	ts := c.tokenSource()
	for attempt := 0; ; attempt++ {
		token, err := ts.Token(ctx)
		if err != nil {
			return fmt.Errorf("wechat: %s: getting access_token: %w", endpoint, err)
		}
		err = call(token)
		if attempt > 0 || !IsTokenRejected(err) {
			return err
		}
		if err := ts.Invalidate(ctx, token); err != nil {
			return fmt.Errorf("wechat: %s: invalidating the refused access_token: %w", endpoint, err)
		}
	}
}

// call sends one request and decodes WeChat's answer into out (which may be
// nil), repeating it after -1 or a transport error.
func (c *Client) call(ctx context.Context, method, endpoint string, q url.Values, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("wechat: %s: encoding the request: %w", endpoint, err)
		}
	}
	retries, delay := c.Retries, c.Backoff
	if retries == 0 {
		retries = defaultRetries
	}
	if delay <= 0 {
		delay = defaultBackoff
	}
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err := c.once(ctx, method, endpoint, q, payload, out)
		if c.Observe != nil {
			c.Observe(endpoint, outcome(err), time.Since(start))
		}
		if err == nil || attempt >= retries || !retryable(ctx, err) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wechat: %s: gave up retrying: %w (last attempt: %w)", endpoint, ctx.Err(), err)
		case <-t.C:
		}
		delay *= 2
	}
}

// outcome names how a round trip ended, for Observe.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	if api, ok := errors.AsType[*APIError](err); ok {
		return strconv.Itoa(api.Code)
	}
	if _, ok := errors.AsType[*transportError](err); ok {
		return "transport"
	}
	return "bad_answer"
}

// retryable: only a busy WeChat or a failed round trip may succeed next time;
// an errcode such as 40029 or an answer that is not JSON will not.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if _, ok := errors.AsType[*transportError](err); ok {
		return true
	}
	return IsCode(err, CodeBusy)
}

func (c *Client) once(ctx context.Context, method, endpoint string, q url.Values, payload []byte, out any) error {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u := strings.TrimRight(base, "/") + "/" + endpoint
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		// The message of a URL parse error quotes the URL.
		return fmt.Errorf("wechat: %s: building the request failed (check BaseURL)", endpoint)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	hc := c.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return newTransportError(endpoint, err, c.AppSecret, q.Get("access_token"))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return newTransportError(endpoint, err, c.AppSecret, q.Get("access_token"))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("wechat: %s: HTTP status %d", endpoint, resp.StatusCode)
	}
	// WeChat sometimes labels JSON text/plain, so the body decides, not Content-Type.
	var status struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(data, &status); err != nil {
		return fmt.Errorf("wechat: %s: answer is not JSON (%d bytes, %q): %w",
			endpoint, len(data), resp.Header.Get("Content-Type"), err)
	}
	if status.ErrCode != 0 {
		return &APIError{Endpoint: endpoint, Code: status.ErrCode, Msg: status.ErrMsg}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("wechat: %s: decoding the answer: %w", endpoint, err)
		}
	}
	return nil
}
