package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/wxauth/caddy-wxauth/auth"
	"github.com/wxauth/caddy-wxauth/session"
	"github.com/wxauth/caddy-wxauth/token"
	"github.com/wxauth/caddy-wxauth/wechat"
)

// The kinds of account. A kind is how users of that surface log in; the
// token, the store and the access_token work alike for every kind.
const (
	kindMiniProgram     = "miniprogram"
	kindOfficialAccount = "official_account"
	kindWebsite         = "website"
)

// account is one WeChat app of a deployment with everything built for it
// once: its WeChat client and shared access_token, its token keys and its
// login service. Handlers share accounts through the wxauth app.
type account struct {
	kind, name, appID string
	settings          Settings // with defaults

	service  *auth.Service
	tokens   *wechat.SharedTokenSource // the account's access_token, one per deployment
	secret   string                    // the AppSecret, resolved; never logged
	store    *pooledStore
	keyring  *pooledKeyring // nil with signing_key
	caches   *pooledCaches
	prefix   string // of the account's store keys
	verified prometheus.Counter
}

// newAccount builds the account appID of kind under s (defaults filled in);
// secret is the AppSecret as configured, placeholders unresolved.
func newAccount(ctx caddy.Context, logger *zap.Logger, s Settings, kind, name, appID, secret string) (_ *account, err error) {
	repl := caddy.NewReplacer()
	resolved := repl.ReplaceKnown(secret, "")
	if resolved == "" {
		return nil, fmt.Errorf("wxauth: app_secret of %s resolved to an empty string", appID)
	}
	var pem []byte
	if s.SigningKey != "" {
		if pem, err = os.ReadFile(s.SigningKey); err != nil {
			return nil, fmt.Errorf("wxauth: signing_key: %w", err)
		}
		if len(pem) == 0 {
			return nil, fmt.Errorf("wxauth: signing_key: %s is empty", s.SigningKey)
		}
	}
	if warning := plainHTTPWarning(s.APIBase); warning != "" {
		logger.Warn(warning, zap.String("api_base", s.APIBase))
	}

	a := &account{kind: kind, name: name, appID: appID, settings: s}
	defer func() {
		if err != nil {
			a.release()
		}
	}()
	if a.store, a.prefix, err = acquireStore(*s.Store, s.Store.Prefix+appID+":", repl); err != nil {
		return nil, fmt.Errorf("wxauth: %w", err)
	}
	if a.store.fresh {
		go warnIfEvicting(ctx, a.store.Store, logger)
	}
	ttl := time.Duration(s.TokenTTL)
	tokenCfg := token.Config{AppID: appID, TTL: ttl, SigningKeyPEM: pem}
	if pem == nil {
		if a.keyring, err = acquireKeyring(a.store, a.prefix, ttl); err != nil {
			return nil, fmt.Errorf("wxauth: signing keys: %w", err)
		}
		tokenCfg.Keyring = a.keyring.Keyring
	}
	tokens, err := token.New(ctx, tokenCfg)
	if err != nil {
		return nil, fmt.Errorf("wxauth: signing keys: %w", err)
	}
	client := &wechat.Client{AppID: appID, AppSecret: resolved, BaseURL: s.APIBase, Observe: observeWeChat(appID)}
	a.tokens = wechat.NewSharedTokenSource(client.FetchAccessToken, a.store, a.prefix+"access-token")
	a.secret, client.Tokens = resolved, a.tokens
	// The verified tokens are only as good as the keys that verified them:
	// a signing_key file changed (a stolen key rotated out) starts afresh.
	keys := "generated"
	if pem != nil {
		sum := sha256.Sum256(pem)
		keys = hex.EncodeToString(sum[:8])
	}
	if a.caches, err = acquireCaches(a.store, a.prefix, keys, appID, logger); err != nil {
		return nil, fmt.Errorf("wxauth: %w", err)
	}
	sealKey, err := auth.DeriveSealKey(resolved)
	if err != nil {
		return nil, fmt.Errorf("wxauth: %w", err)
	}
	a.service, err = auth.New(auth.Config{
		AppID:     appID,
		WeChat:    client,
		Tokens:    tokens,
		Store:     a.store,
		KeyPrefix: a.prefix,
		SealKey:   sealKey,
		TokenTTL:  ttl,
		UserTTL:   time.Duration(s.UserTTL),
		CacheTTL:  time.Duration(s.CacheTTL),
		FailOpen:  s.StoreOutage == "fail_open",
		Caches:    a.caches.Caches,
		Events:    publisherOf(a.store.Store),
		OnPublishError: func(err error) {
			logger.Error("other instances may see this change only after cache_ttl", zap.String("app_id", appID), zap.Error(err))
		},
	})
	if err != nil {
		return nil, fmt.Errorf("wxauth: %w", err)
	}
	a.verified = metrics.requests.WithLabelValues(appID, "verified")
	return a, nil
}

// publisherOf is store's change-event publisher, or nil for a store whose
// changes only this process sees (memory).
func publisherOf(store session.Store) auth.Publisher {
	if events, ok := store.(session.Broadcaster); ok {
		return events
	}
	return nil
}

// release gives back what the account acquired; it copes with an account
// whose construction failed half-way.
func (a *account) release() error {
	var errs []error
	if a.caches != nil {
		errs = append(errs, a.caches.release())
	}
	if a.keyring != nil {
		errs = append(errs, a.keyring.release())
	}
	if a.store != nil {
		errs = append(errs, a.store.release())
	}
	return errors.Join(errs...)
}

// jwks is the JSON Web Key Set of every key that verifies the tokens of
// accounts, one set for all of them.
func jwks(ctx context.Context, accounts []*account) ([]byte, error) {
	if len(accounts) == 1 {
		return accounts[0].service.JWKS(ctx)
	}
	var all struct {
		Keys []json.RawMessage `json:"keys"`
	}
	for _, a := range accounts {
		set, err := a.service.JWKS(ctx)
		if err != nil {
			return nil, err
		}
		var one struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := json.Unmarshal(set, &one); err != nil {
			return nil, fmt.Errorf("wxauth: jwks of %s: %w", a.appID, err)
		}
		all.Keys = append(all.Keys, one.Keys...)
	}
	return json.Marshal(all)
}
