package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/wxauth/caddy-wxauth/session"
)

// AccessToken is an access_token and when WeChat will stop accepting it.
type AccessToken struct {
	Token  string
	Expiry time.Time
}

// TokenSource provides the access_token. Invalidate reports that WeChat refused
// bad (40001/40014/42001), so the next Token fetches a fresh one — unless
// another caller already replaced it.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	Invalidate(ctx context.Context, bad string) error
}

// TokenStore is where a SharedTokenSource keeps the token and its fetch lock,
// so instances sharing it fetch once. session.Store satisfies it.
type TokenStore interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	Delete(ctx context.Context, key string) error
}

// FetchAccessToken gets a new access_token from WeChat's stable_token.
// forceRefresh asks for a new one; without it WeChat answers the current
// token, so that other holders of it keep working.
func (c *Client) FetchAccessToken(ctx context.Context, forceRefresh bool) (AccessToken, error) {
	const endpoint = "cgi-bin/stable_token"
	var ans struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	body := struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}{"client_credential", c.AppID, c.AppSecret, forceRefresh}
	err := c.call(ctx, http.MethodPost, endpoint, nil, body, &ans)
	if err != nil {
		return AccessToken{}, err
	}
	if ans.AccessToken == "" || ans.ExpiresIn <= 0 {
		return AccessToken{}, fmt.Errorf("wechat: %s: answer lacks access_token or expires_in", endpoint)
	}
	return AccessToken{Token: ans.AccessToken, Expiry: time.Now().Add(time.Duration(ans.ExpiresIn) * time.Second)}, nil
}

// tokenSource is c.Tokens or, when nil, a cache private to c.
func (c *Client) tokenSource() TokenSource {
	if c.Tokens != nil {
		return c.Tokens
	}
	c.localTokensOnce.Do(func() { c.localTokens = NewSharedTokenSource(c.FetchAccessToken, session.NewMemory(), "access_token") })
	return c.localTokens
}

const (
	defaultLockTTL      = 30 * time.Second
	defaultMaxWait      = 35 * time.Second
	defaultPollInterval = 50 * time.Millisecond
	// maxEarly is the most a token is refreshed before it expires (10% of its
	// lifetime when that is less), leaving room for clock skew and slow calls.
	maxEarly = 5 * time.Minute
)

// SharedTokenSource caches an access_token in memory and in a TokenStore and
// makes sure it is fetched once at a time: singleflight within a process, a
// lock in the store across processes. Set the optional fields before first use.
type SharedTokenSource struct {
	// LockTTL is how long the cross-instance fetch lock lives, and so the
	// longest a crashed fetcher can hold up the others; a fetch is cut off
	// after it. Default 30s.
	LockTTL time.Duration
	// MaxWait bounds how long Token waits for another instance's fetch. Keep
	// it above LockTTL so a crashed holder's lock can expire meanwhile.
	// Default 35s.
	MaxWait time.Duration
	// PollInterval is how often a waiting caller looks in the store. Default 50ms.
	PollInterval time.Duration
	// Now decides whether a token is still fresh; nil means time.Now.
	Now func() time.Time

	fetch func(ctx context.Context, force bool) (AccessToken, error)
	store TokenStore
	key   string
	group singleflight.Group

	mu  sync.Mutex
	cur cachedToken // the local copy, served without touching the store
	bad string      // last token reported refused: never served; while set, fetches force a refresh
}

// cachedToken is the local copy and, as JSON, the store's value.
type cachedToken struct {
	Token     string    `json:"access_token"`
	Expiry    time.Time `json:"expiry"`
	RefreshAt time.Time `json:"refresh_at"` // when it counts as expired
}

// NewSharedTokenSource returns a TokenSource that gets tokens from fetch and
// shares them through store under key (the lock is key+":lock"). A nil store
// means an in-process one.
func NewSharedTokenSource(fetch func(ctx context.Context, force bool) (AccessToken, error), store TokenStore, key string) *SharedTokenSource {
	if store == nil {
		store = session.NewMemory()
	}
	return &SharedTokenSource{fetch: fetch, store: store, key: key}
}

// Token returns a fresh access_token. However many callers ask at once, at
// most one fetch runs across every instance sharing the store.
func (s *SharedTokenSource) Token(ctx context.Context) (string, error) {
	if tok, ok := s.local(); ok {
		return tok, nil
	}
	// The shared refresh must not die with whichever caller started it, so it
	// runs detached but bounded; each caller still stops waiting on its own ctx.
	ch := s.group.DoChan(s.key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.maxWait()+s.lockTTL())
		defer cancel()
		return s.refresh(ctx)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", fmt.Errorf("wechat: waiting for the access_token: %w", ctx.Err())
	}
}

// Invalidate drops bad wherever it is still cached, so the next Token forces a
// refresh. If the cache already holds another token, someone refreshed and
// nothing is done.
func (s *SharedTokenSource) Invalidate(ctx context.Context, bad string) error {
	if bad == "" {
		return nil
	}
	s.mu.Lock()
	inLocal := s.cur.Token == bad
	if inLocal {
		s.cur = cachedToken{}
	}
	s.mu.Unlock()
	stored, ok := s.stored(ctx)
	inStore := ok && stored.Token == bad
	if inStore || (inLocal && !ok) {
		s.mu.Lock()
		s.bad = bad
		s.mu.Unlock()
	}
	if inStore {
		if err := s.store.Delete(ctx, s.key); err != nil {
			return fmt.Errorf("wechat: dropping the refused access_token from the store: %w", err)
		}
	}
	return nil
}

func (s *SharedTokenSource) refresh(ctx context.Context) (string, error) {
	if tok, ok := s.local(); ok { // a refresh finished just before this one began
		return tok, nil
	}
	waitCtx, cancel := context.WithTimeout(ctx, s.maxWait())
	defer cancel()
	poll := time.NewTicker(s.pollInterval())
	defer poll.Stop()
	for {
		if tok, ok := s.adoptStored(ctx); ok {
			return tok, nil
		}
		// A lock that expired or was released without a token is free again,
		// so a waiter takes over from a holder that crashed or failed.
		won, err := s.store.SetNX(ctx, s.key+":lock", []byte("1"), s.lockTTL())
		if err != nil {
			return "", fmt.Errorf("wechat: taking the access_token fetch lock: %w", err)
		}
		if won {
			return s.fetchLocked(ctx)
		}
		select {
		case <-waitCtx.Done():
			return "", fmt.Errorf("wechat: waiting for another instance to fetch the access_token: %w", waitCtx.Err())
		case <-poll.C:
		}
	}
}

// fetchLocked fetches and stores a token; the caller holds the store lock.
func (s *SharedTokenSource) fetchLocked(ctx context.Context) (string, error) {
	taken := time.Now()
	defer func() {
		// Past its TTL the lock may be another holder's; let that one expire.
		// A failed Delete only makes the others wait out the TTL.
		if time.Since(taken) < s.lockTTL() {
			_ = s.store.Delete(ctx, s.key+":lock")
		}
	}()
	// Another instance may have stored a token between our look and the lock.
	if tok, ok := s.adoptStored(ctx); ok {
		return tok, nil
	}
	s.mu.Lock()
	force := s.bad != ""
	s.mu.Unlock()

	fctx, cancel := context.WithTimeout(ctx, s.lockTTL())
	defer cancel()
	at, err := s.fetch(fctx, force)
	if err != nil {
		return "", fmt.Errorf("wechat: fetching the access_token: %w", err)
	}
	now := s.now()
	life := at.Expiry.Sub(now)
	if at.Token == "" || life <= 0 {
		return "", errors.New("wechat: fetched access_token is empty or already expired")
	}
	t := cachedToken{Token: at.Token, Expiry: at.Expiry, RefreshAt: at.Expiry.Add(-min(life/10, maxEarly))}
	b, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("wechat: encoding the access_token: %w", err)
	}
	if err := s.store.Set(ctx, s.key, b, life); err != nil {
		return "", fmt.Errorf("wechat: storing the access_token: %w", err)
	}
	s.mu.Lock()
	s.cur, s.bad = t, ""
	s.mu.Unlock()
	return t.Token, nil
}

// local returns the in-memory token if it is fresh.
func (s *SharedTokenSource) local() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.usableLocked(s.cur) {
		return "", false
	}
	return s.cur.Token, true
}

// adoptStored makes the store's token the local copy if it is fresh.
func (s *SharedTokenSource) adoptStored(ctx context.Context) (string, bool) {
	t, ok := s.stored(ctx)
	if !ok {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.usableLocked(t) {
		return "", false
	}
	s.cur = t
	return t.Token, true
}

// stored reads the store's token. Any Get error counts as "none cached": not
// found and unreachable both mean this caller must fetch.
func (s *SharedTokenSource) stored(ctx context.Context) (cachedToken, bool) {
	b, err := s.store.Get(ctx, s.key)
	if err != nil {
		return cachedToken{}, false
	}
	var t cachedToken
	if json.Unmarshal(b, &t) != nil || t.Token == "" {
		return cachedToken{}, false
	}
	return t, true
}

func (s *SharedTokenSource) usableLocked(t cachedToken) bool {
	return t.Token != "" && t.Token != s.bad && s.now().Before(t.RefreshAt)
}

func (s *SharedTokenSource) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *SharedTokenSource) lockTTL() time.Duration { return orDefault(s.LockTTL, defaultLockTTL) }
func (s *SharedTokenSource) maxWait() time.Duration { return orDefault(s.MaxWait, defaultMaxWait) }
func (s *SharedTokenSource) pollInterval() time.Duration {
	return orDefault(s.PollInterval, defaultPollInterval)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
