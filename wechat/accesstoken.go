package wechat

import (
	"context"
	"crypto/rand"
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

// TokenStore is where a SharedTokenSource keeps the token, its fetch lock and
// its forced-refresh marker, so instances sharing it fetch once.
// session.Store satisfies it.
type TokenStore interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	CompareAndDelete(ctx context.Context, key string, value []byte) (bool, error)
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
	defaultLockTTL       = 30 * time.Second
	defaultMaxWait       = 35 * time.Second
	defaultPollInterval  = 50 * time.Millisecond
	defaultForceInterval = 30 * time.Second
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
	// ForceInterval is the least time between two forced refreshes by
	// ForceRefresh, across every instance sharing the store; a ForceRefresh
	// sooner answers the current token without calling WeChat. WeChat
	// ignores forced refreshes less than 30 s apart and allows 20 a day, so
	// a shorter interval only spends that quota. Default 30s.
	ForceInterval time.Duration
	// Now decides whether a token is still fresh; nil means time.Now. The
	// lock and the forced-refresh marker expire on the store's clock.
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
// shares them through store under key (the fetch lock is key+":lock", the
// forced-refresh marker key+":forced"). A nil store means an in-process one.
func NewSharedTokenSource(fetch func(ctx context.Context, force bool) (AccessToken, error), store TokenStore, key string) *SharedTokenSource {
	if store == nil {
		store = session.NewMemory()
	}
	return &SharedTokenSource{fetch: fetch, store: store, key: key}
}

// Token returns a fresh access_token; it is AccessToken without the expiry.
func (s *SharedTokenSource) Token(ctx context.Context) (string, error) {
	at, err := s.AccessToken(ctx)
	return at.Token, err
}

// AccessToken returns a fresh access_token and when it expires, as a proxy
// answering cgi-bin/token or stable_token needs. However many callers ask at
// once, at most one fetch runs across every instance sharing the store.
func (s *SharedTokenSource) AccessToken(ctx context.Context) (AccessToken, error) {
	if t, ok := s.local(); ok {
		return t.public(), nil
	}
	return s.shared(ctx, s.key, s.refresh)
}

// ForceRefresh replaces the access_token with a new one from a forced
// stable_token fetch (force_refresh=true), as a backend that saw its token
// refused asks for; WeChat invalidates the previous token at once. It
// fetches at most once per ForceInterval for every instance sharing the
// store: when a forced refresh already happened within it, here or
// elsewhere, it answers the current token without calling WeChat. The new
// token replaces the stored one for everyone; other instances keep serving
// their local copy of the old one until WeChat refuses it and Invalidate
// makes them read the store again.
func (s *SharedTokenSource) ForceRefresh(ctx context.Context) (AccessToken, error) {
	return s.shared(ctx, s.key+":forced", s.forceRefresh)
}

// shared runs get once for all callers asking under key at the same time.
// It must not die with whichever caller started it, so it runs detached but
// bounded; each caller still stops waiting on its own ctx.
func (s *SharedTokenSource) shared(ctx context.Context, key string, get func(context.Context) (cachedToken, error)) (AccessToken, error) {
	ch := s.group.DoChan(key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.maxWait()+s.lockTTL())
		defer cancel()
		return get(ctx)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return AccessToken{}, r.Err
		}
		return r.Val.(cachedToken).public(), nil
	case <-ctx.Done():
		return AccessToken{}, fmt.Errorf("wechat: waiting for the access_token: %w", ctx.Err())
	}
}

// Invalidate drops bad wherever it is still cached, so the next Token forces a
// refresh. If the cache already holds another token, someone refreshed and
// nothing is done: the store's copy is dropped only if it is still the one
// that was refused (compare-and-delete of the bytes read), so a token another
// instance stores meanwhile survives.
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
	stored, raw, ok := s.stored(ctx)
	inStore := ok && stored.Token == bad
	if inStore || (inLocal && !ok) {
		s.mu.Lock()
		s.bad = bad
		s.mu.Unlock()
	}
	if inStore {
		if _, err := s.store.CompareAndDelete(ctx, s.key, raw); err != nil {
			return fmt.Errorf("wechat: dropping the refused access_token from the store: %w", err)
		}
	}
	return nil
}

// refresh adopts the token another instance stored or fetches one, forced
// while a refused token is known.
func (s *SharedTokenSource) refresh(ctx context.Context) (cachedToken, error) {
	if t, ok := s.local(); ok { // a refresh finished just before this one began
		return t, nil
	}
	return s.locked(ctx, true, func(ctx context.Context) (cachedToken, error) {
		// Another instance may have stored a token between our look and the lock.
		if t, ok := s.adoptStored(ctx); ok {
			return t, nil
		}
		s.mu.Lock()
		force := s.bad != ""
		s.mu.Unlock()
		if force {
			// Forced refreshes are few a day: a refused token forces one at
			// most once per ForceInterval for the whole deployment, however
			// often callers report refusals (a caller can provoke 40001 on
			// some APIs at will).
			first, err := s.store.SetNX(ctx, s.key+":forced", []byte("1"), s.forceInterval())
			if err != nil {
				return cachedToken{}, fmt.Errorf("wechat: taking the forced-refresh marker: %w", err)
			}
			force = first
		}
		return s.fetchAndStore(ctx, force)
	})
}

// forceRefresh decides, holding the fetch lock, whether this is the
// deployment's first forced refresh within ForceInterval. The lock also
// makes a caller that loses wait for a winner still fetching, so that it
// answers the new token rather than the one being replaced. A forced fetch
// that fails keeps the marker: WeChat may have acted on it all the same.
func (s *SharedTokenSource) forceRefresh(ctx context.Context) (cachedToken, error) {
	return s.locked(ctx, false, func(ctx context.Context) (cachedToken, error) {
		first, err := s.store.SetNX(ctx, s.key+":forced", []byte("1"), s.forceInterval())
		if err != nil {
			return cachedToken{}, fmt.Errorf("wechat: taking the forced-refresh marker: %w", err)
		}
		if first {
			return s.fetchAndStore(ctx, true)
		}
		if t, ok := s.adoptStored(ctx); ok {
			return t, nil
		}
		// The store lost the token the forced refresh stored; WeChat's
		// current one needs no force.
		return s.fetchAndStore(ctx, false)
	})
}

// locked runs fn holding the store's fetch lock, waiting up to MaxWait for
// another instance to release it. With adopt, a fresh token that instance
// stores meanwhile is returned instead of running fn.
func (s *SharedTokenSource) locked(ctx context.Context, adopt bool, fn func(context.Context) (cachedToken, error)) (cachedToken, error) {
	// The lock's value is ours alone, so releasing it can never remove the
	// lock of another instance that took it after ours expired.
	mine := []byte(rand.Text())
	waitCtx, cancel := context.WithTimeout(ctx, s.maxWait())
	defer cancel()
	poll := time.NewTicker(s.pollInterval())
	defer poll.Stop()
	for {
		if adopt {
			if t, ok := s.adoptStored(ctx); ok {
				return t, nil
			}
		}
		// A lock that expired or was released without a token is free again,
		// so a waiter takes over from a holder that crashed or failed.
		won, err := s.store.SetNX(ctx, s.key+":lock", mine, s.lockTTL())
		if err != nil {
			return cachedToken{}, fmt.Errorf("wechat: taking the access_token fetch lock: %w", err)
		}
		if won {
			break
		}
		select {
		case <-waitCtx.Done():
			return cachedToken{}, fmt.Errorf("wechat: waiting for another instance to fetch the access_token: %w", waitCtx.Err())
		case <-poll.C:
		}
	}
	defer func() {
		// A failed release only makes the others wait out the TTL.
		_, _ = s.store.CompareAndDelete(ctx, s.key+":lock", mine)
	}()
	return fn(ctx)
}

// fetchAndStore fetches a token and stores it for everyone; the caller holds
// the store lock.
func (s *SharedTokenSource) fetchAndStore(ctx context.Context, force bool) (cachedToken, error) {
	fctx, cancel := context.WithTimeout(ctx, s.lockTTL())
	defer cancel()
	at, err := s.fetch(fctx, force)
	if err != nil {
		return cachedToken{}, fmt.Errorf("wechat: fetching the access_token: %w", err)
	}
	now := s.now()
	life := at.Expiry.Sub(now)
	if at.Token == "" || life <= 0 {
		return cachedToken{}, errors.New("wechat: fetched access_token is empty or already expired")
	}
	t := cachedToken{Token: at.Token, Expiry: at.Expiry, RefreshAt: at.Expiry.Add(-min(life/10, maxEarly))}
	b, err := json.Marshal(t)
	if err != nil {
		return cachedToken{}, fmt.Errorf("wechat: encoding the access_token: %w", err)
	}
	if err := s.store.Set(ctx, s.key, b, life); err != nil {
		return cachedToken{}, fmt.Errorf("wechat: storing the access_token: %w", err)
	}
	s.mu.Lock()
	s.cur, s.bad = t, ""
	s.mu.Unlock()
	return t, nil
}

// local returns the in-memory token if it is fresh.
func (s *SharedTokenSource) local() (cachedToken, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.usableLocked(s.cur) {
		return cachedToken{}, false
	}
	return s.cur, true
}

// adoptStored makes the store's token the local copy if it is fresh. A
// token that is not the refused one replaced it, so no forced refresh is
// owed any more.
func (s *SharedTokenSource) adoptStored(ctx context.Context) (cachedToken, bool) {
	t, _, ok := s.stored(ctx)
	if !ok {
		return cachedToken{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.usableLocked(t) {
		return cachedToken{}, false
	}
	s.cur, s.bad = t, ""
	return t, true
}

// stored reads the store's token, and the bytes it was read from. Any Get
// error counts as "none cached": not found and unreachable both mean this
// caller must fetch.
func (s *SharedTokenSource) stored(ctx context.Context) (cachedToken, []byte, bool) {
	b, err := s.store.Get(ctx, s.key)
	if err != nil {
		return cachedToken{}, nil, false
	}
	var t cachedToken
	if json.Unmarshal(b, &t) != nil || t.Token == "" {
		return cachedToken{}, nil, false
	}
	return t, b, true
}

func (s *SharedTokenSource) usableLocked(t cachedToken) bool {
	return t.Token != "" && t.Token != s.bad && s.now().Before(t.RefreshAt)
}

func (t cachedToken) public() AccessToken { return AccessToken{Token: t.Token, Expiry: t.Expiry} }

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
func (s *SharedTokenSource) forceInterval() time.Duration {
	return orDefault(s.ForceInterval, defaultForceInterval)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
