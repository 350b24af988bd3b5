package caddymodule

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/wxauth/caddy-wxauth/auth"
	"github.com/wxauth/caddy-wxauth/session"
	"github.com/wxauth/caddy-wxauth/token"
)

// stores holds one store per distinct config across config reloads: a reload
// neither logs everybody out (memory) nor leaks connections (redis). The last
// handler to release a store closes it.
var stores = caddy.NewUsagePool()

// pooledStore is a session.Store held in the stores pool.
type pooledStore struct {
	session.Store
	key    string
	closer func() error
	fresh  bool // created by this acquire, not found in the pool
}

// Destruct closes the store once no handler uses it.
func (s *pooledStore) Destruct() error {
	if s.closer == nil {
		return nil
	}
	return s.closer()
}

func (s *pooledStore) release() error {
	_, err := stores.Delete(s.key)
	return err
}

// acquireStore returns the pooled store for cfg, creating it on first use,
// for a handler whose keys are namespaced by prefix, and the prefix to put
// before those keys. repl resolves placeholders in the Redis URL, which may
// hold a password.
//
// A memory store is one per prefix and its keys carry none: every user's
// keys would otherwise repeat the prefix, a quarter of their memory.
func acquireStore(cfg StoreConfig, prefix string, repl *caddy.Replacer) (*pooledStore, string, error) {
	if cfg.Type != "redis" {
		key := "memory:" + prefix
		v, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
			return &pooledStore{Store: session.NewMemory(), key: key}, nil
		})
		if err != nil {
			return nil, "", err
		}
		return v.(*pooledStore), "", nil
	}
	rawURL := repl.ReplaceKnown(cfg.URL, "")
	if strings.TrimSpace(rawURL) == "" {
		return nil, "", fmt.Errorf("store redis: the URL is empty (%s resolved to nothing)", cfg.URL)
	}
	key := "redis:" + rawURL
	v, loaded, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		client, err := session.NewRedisClient(rawURL)
		if err != nil {
			return nil, err
		}
		return &pooledStore{Store: session.NewRedis(client, ""), key: key, closer: client.Close}, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("store redis: %w", err)
	}
	s := *v.(*pooledStore)
	s.fresh = !loaded
	return &s, prefix, nil
}

// keyrings holds one token.Keyring per store, key prefix and token lifetime
// across config reloads: what this instance knows of signing keys survives a
// reload even when the store has lost them, so that every token any instance
// issued keeps verifying after a Redis restart without persistence.
var keyrings = caddy.NewUsagePool()

// pooledKeyring is a token.Keyring held in the keyrings pool.
type pooledKeyring struct {
	*token.Keyring
	key string
}

// Destruct stops the keyring's background check once no handler uses it.
func (k *pooledKeyring) Destruct() error { return k.Close() }

func (k *pooledKeyring) release() error {
	_, err := keyrings.Delete(k.key)
	return err
}

// acquireKeyring returns the pooled keyring of the keys under prefix in
// store, for tokens that live ttl.
func acquireKeyring(store *pooledStore, prefix string, ttl time.Duration) (*pooledKeyring, error) {
	key := fmt.Sprintf("%s|%s|%s", store.key, prefix, ttl)
	v, _, err := keyrings.LoadOrNew(key, func() (caddy.Destructor, error) {
		k, err := token.NewKeyring(token.KeyringConfig{Store: store.Store, KeyPrefix: prefix, TTL: ttl})
		if err != nil {
			return nil, err
		}
		return &pooledKeyring{Keyring: k, key: key}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*pooledKeyring), nil
}

// caches holds one auth.Caches per store and key prefix across config
// reloads: a reload neither checks every token's signature again nor
// forgets a revocation the store has lost. On a store that carries change
// events (Redis), the pooled caches also hold the subscription to the
// account's events: one per store and account, whatever the reloads.
var caches = caddy.NewUsagePool()

// pooledCaches is an auth.Caches held in the caches pool.
type pooledCaches struct {
	*auth.Caches
	key         string
	unsubscribe func() // nil without events
}

// Destruct ends the subscription, if any, once no handler uses the caches.
func (c *pooledCaches) Destruct() error {
	if c.unsubscribe != nil {
		c.unsubscribe()
	}
	return nil
}

func (c *pooledCaches) release() error {
	_, err := caches.Delete(c.key)
	return err
}

// acquireCaches returns the pooled caches of the account appID whose keys
// are under prefix in store and whose tokens verify with signingKeys (an id
// of the key material), subscribed to its change events when the store
// carries them.
func acquireCaches(store *pooledStore, prefix, signingKeys, appID string, logger *zap.Logger) (*pooledCaches, error) {
	key := store.key + "|" + prefix + "|" + signingKeys
	v, _, err := caches.LoadOrNew(key, func() (caddy.Destructor, error) {
		c := &pooledCaches{Caches: auth.NewCaches(0), key: key}
		if events, ok := store.Store.(session.Broadcaster); ok {
			c.unsubscribe = subscribe(events, auth.EventsChannel(prefix), c.Caches, appID, logger)
		}
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*pooledCaches), nil
}

// subscribe feeds the account's change events to caches until the returned
// func is called, and makes their state visible: the events_subscribed
// gauge, and one Warn line per outage (cache_ttl re-reads stand in while it
// lasts).
func subscribe(events session.Broadcaster, channel string, caches *auth.Caches, appID string, logger *zap.Logger) func() {
	ctx, cancel := context.WithCancel(context.Background())
	gauge := metrics.eventsUp.WithLabelValues(appID)
	wait := events.Subscribe(ctx, channel, caches.Apply, func(up bool) {
		caches.SetLive(up)
		if up {
			gauge.Set(1)
			logger.Info("change events from other instances flow; cached token state dropped", zap.String("app_id", appID))
			return
		}
		gauge.Set(0)
		if ctx.Err() == nil {
			logger.Warn("change events from other instances stopped: re-reading cached token state every cache_ttl until they are back",
				zap.String("app_id", appID))
		}
	})
	return func() {
		cancel()
		wait()
	}
}
