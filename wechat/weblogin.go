package wechat

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// DefaultOAuthBaseURL is where WeChat's authorize pages live.
const DefaultOAuthBaseURL = "https://open.weixin.qq.com"

// The scopes of WeChat's web login. An official account's page asks for
// snsapi_base (the openid, silently) or snsapi_userinfo (after consent, the
// profile and, when the account is bound to an open platform, the unionid);
// a website's QR login always asks for snsapi_login.
const (
	ScopeBase     = "snsapi_base"
	ScopeUserInfo = "snsapi_userinfo"
	ScopeLogin    = "snsapi_login"
)

// AuthorizeURL is the page a browser is sent to for web login: an official
// account's authorize page (connect/oauth2/authorize), or with scope
// snsapi_login a website's QR login page (connect/qrconnect). WeChat checks
// the link against a strict pattern, so the parameters stand in the
// documented order, and the fragment #wechat_redirect ends it. state must be
// a-zA-Z0-9, at most 128 bytes, for the official account's page to accept it.
func AuthorizeURL(base, appID, redirectURI, scope, state string) string {
	if base == "" {
		base = DefaultOAuthBaseURL
	}
	page := "/connect/oauth2/authorize"
	if scope == ScopeLogin {
		page = "/connect/qrconnect"
	}
	return strings.TrimRight(base, "/") + page +
		"?appid=" + url.QueryEscape(appID) +
		"&redirect_uri=" + url.QueryEscape(redirectURI) +
		"&response_type=code" +
		"&scope=" + url.QueryEscape(scope) +
		"&state=" + url.QueryEscape(state) +
		"#wechat_redirect"
}

// WebUser is who a web login's code names.
type WebUser struct {
	OpenID string
	// UnionID is set only when the scope was snsapi_userinfo or snsapi_login
	// and the account is bound to an open platform.
	UnionID string
	Scope   string
	// SnapshotUser is WeChat's virtual visitor of a 快照页 (a shared page
	// opened before the user agreed to anything): its openid and unionid
	// are made up and must not be logged in.
	SnapshotUser bool
}

// ExchangeWebCode exchanges the code an authorize page sent back (GET
// /sns/oauth2/access_token). The web access_token and refresh_token WeChat
// also answers are dropped here: wxauth needs only who the user is, so they
// are never stored or shown.
func (c *Client) ExchangeWebCode(ctx context.Context, code string) (*WebUser, error) {
	const endpoint = "sns/oauth2/access_token"
	q := url.Values{
		"appid":      {c.AppID},
		"secret":     {c.AppSecret},
		"code":       {code},
		"grant_type": {"authorization_code"},
	}
	var ans struct {
		OpenID         string `json:"openid"`
		UnionID        string `json:"unionid"`
		Scope          string `json:"scope"`
		IsSnapshotUser int    `json:"is_snapshotuser"`
	}
	if err := c.call(ctx, http.MethodGet, endpoint, q, nil, &ans); err != nil {
		return nil, err
	}
	if ans.OpenID == "" {
		return nil, fmt.Errorf("wechat: %s: answer lacks openid", endpoint)
	}
	return &WebUser{OpenID: ans.OpenID, UnionID: ans.UnionID, Scope: ans.Scope, SnapshotUser: ans.IsSnapshotUser == 1}, nil
}
