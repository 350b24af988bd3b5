package wxmock

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// Endpoint names used as keys of Stats.TokenFetches and Stats.TokensIssued.
const (
	endpointStable = "stable_token"
	endpointToken  = "token"
)

// Timings from WeChat's access_token docs.
const (
	// overlap: after cgi-bin/token issues a new token, and when stable_token
	// renews early, "新老 access_token 都可用" for five minutes.
	overlap = 5 * time.Minute
	// forceRefreshGap: forced stable_token refreshes less than 30 s apart
	// "不会刷新" — they return the current token.
	forceRefreshGap = 30 * time.Second
	// forgetAfter: how long a dead token is remembered, so that it answers
	// 42001 / 40001 rather than looking never issued.
	forgetAfter = time.Hour
)

type accessToken struct {
	app      *AppHandle // the app it was issued to, which it identifies
	value    string
	endpoint string
	expires  time.Time // natural end of life: 42001 afterwards
	cutoff   time.Time // replaced or invalidated: 40001 from then; zero if not
}

// end returns when the token stops working and the errcode it answers then.
func (t *accessToken) end() (time.Time, int) {
	if !t.cutoff.IsZero() && t.cutoff.Before(t.expires) {
		return t.cutoff, errInvalidCredential
	}
	return t.expires, errAccessTokenExpired
}

func (t *accessToken) valid(now time.Time) bool {
	end, _ := t.end()
	return now.Before(end)
}

type stableTokenRequest struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// stableToken is POST /cgi-bin/stable_token (getStableAccessToken). Normal
// calls return the current token, with the seconds it has left as expires_in,
// until its last five minutes (or half its TTL, if shorter); then a new one is
// issued and the old keeps working until it expires. force_refresh issues a
// new token and kills the old at once — unless the previous forced refresh was
// under 30 s ago and the current token still works, which WeChat ignores.
// Tokens from this endpoint and from cgi-bin/token never affect each other,
// nor do different apps' tokens.
func (s *Server) stableToken(r *http.Request) any {
	if r.Method != http.MethodPost {
		return wxError(errRequirePOST)
	}
	var req stableTokenRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil {
		// WeChat finds no field in a body that is not JSON (a form, or
		// nothing) and complains about the first one it misses: 41002 appid
		// missing, not 47001 data format error, as captured real answers show.
		req = stableTokenRequest{}
	}
	a, errcode := s.checkCredentials(req.AppID, req.Secret, req.GrantType, "client_credential")
	if errcode != 0 {
		return wxError(errcode)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	cur := a.stable
	curValid := cur != nil && cur.valid(now)
	renewWindow := min(overlap, s.cfg.TokenTTL/2)
	switch {
	case req.ForceRefresh:
		if curValid && !a.lastForced.IsZero() && now.Sub(a.lastForced) < forceRefreshGap {
			break
		}
		if cur != nil && (cur.cutoff.IsZero() || now.Before(cur.cutoff)) {
			cur.cutoff = now
		}
		a.lastForced = now
		cur = s.issue(a, endpointStable, now)
		a.stable = cur
	case !curValid || cur.expires.Sub(now) <= renewWindow:
		cur = s.issue(a, endpointStable, now)
		a.stable = cur
	}
	a.fetches[endpointStable]++
	return tokenResponse{AccessToken: cur.value, ExpiresIn: wholeSeconds(cur.expires.Sub(now))}
}

// token is GET /cgi-bin/token (getAccessToken). Every call issues a new token;
// the previous one keeps working for five more minutes (WeChat: "公众平台后台会
// 保证在5分钟内，新老access_token都可用") and then answers 40001.
func (s *Server) token(r *http.Request) any {
	q := r.URL.Query()
	a, errcode := s.checkCredentials(q.Get("appid"), q.Get("secret"), q.Get("grant_type"), "client_credential")
	if errcode != 0 {
		return wxError(errcode)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if prev := a.legacy; prev != nil {
		if graceEnd := now.Add(overlap); prev.cutoff.IsZero() || graceEnd.Before(prev.cutoff) {
			prev.cutoff = graceEnd
		}
	}
	t := s.issue(a, endpointToken, now)
	a.legacy = t
	a.fetches[endpointToken]++
	return tokenResponse{AccessToken: t.value, ExpiresIn: wholeSeconds(s.cfg.TokenTTL)}
}

// wholeSeconds renders a lifetime as expires_in. It never says 0, which a
// client would read as "already expired" and loop on; that can only happen with
// a TokenTTL under two seconds.
func wholeSeconds(d time.Duration) int {
	return max(1, int(d/time.Second))
}

// issue mints a token for app a. The caller holds s.mu.
func (s *Server) issue(a *AppHandle, endpoint string, now time.Time) *accessToken {
	s.pruneTokens(now)
	// Shaped like WeChat's: a number, an underscore, ~130 URL-safe characters.
	t := &accessToken{
		app:      a,
		value:    "91_" + randomToken(),
		endpoint: endpoint,
		expires:  now.Add(s.cfg.TokenTTL),
	}
	s.tokens[t.value] = t
	a.issued[endpoint]++
	return t
}

func (s *Server) pruneTokens(now time.Time) {
	if now.Sub(s.tokensPruned) < forgetAfter/10 {
		return
	}
	s.tokensPruned = now
	for v, t := range s.tokens {
		if end, _ := t.end(); now.Sub(end) > forgetAfter {
			delete(s.tokens, v)
		}
	}
}

// InvalidateTokens kills every access_token issued so far, from both
// endpoints and for every app: using one answers 40001 from now on, and the
// next stable_token call issues a new token. It simulates a token refreshed
// elsewhere (another server sharing the AppID, or someone pressing "reset"
// in the console).
func (s *Server) InvalidateTokens() { s.invalidateTokens(nil) }

// InvalidateTokens kills this app's access_tokens only, as
// Server.InvalidateTokens kills all apps'.
func (a *AppHandle) InvalidateTokens() { a.s.invalidateTokens(a) }

// invalidateTokens kills app a's tokens, or every token when a is nil.
func (s *Server) invalidateTokens(a *AppHandle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, t := range s.tokens {
		if (a == nil || t.app == a) && (t.cutoff.IsZero() || now.Before(t.cutoff)) {
			t.cutoff = now
		}
	}
}

// checkAccessToken answers what WeChat answers for an API call carrying tok:
// 41001 when missing, 40014 when it cannot be a token at all, 40001 when
// unknown, replaced or invalidated, 42001 when expired, and 0 with the app
// the token was issued to when good — a token names its app, so the call
// acts for that app.
func (s *Server) checkAccessToken(tok string) (*AppHandle, int) {
	if tok == "" {
		return nil, errAccessTokenMissing
	}
	if !wellFormedToken(tok) {
		return nil, errInvalidAccessToken
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[tok]
	if t == nil {
		return nil, errInvalidCredential
	}
	if end, errcode := t.end(); !s.now().Before(end) {
		return nil, errcode
	}
	return t.app, 0
}

func wellFormedToken(tok string) bool {
	if len(tok) < 16 || len(tok) > 512 {
		return false
	}
	return strings.IndexFunc(tok, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) < 0
}
