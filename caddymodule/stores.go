package caddymodule

import (
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

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
// forgets a revocation the store has lost.
var caches = caddy.NewUsagePool()

// pooledCaches is an auth.Caches held in the caches pool.
type pooledCaches struct {
	*auth.Caches
	key string
}

// Destruct has nothing to release: the caches are garbage once unused.
func (*pooledCaches) Destruct() error { return nil }

func (c *pooledCaches) release() error {
	_, err := caches.Delete(c.key)
	return err
}

// acquireCaches returns the pooled caches of the account whose keys are
// under prefix in store.
func acquireCaches(store *pooledStore, prefix string) (*pooledCaches, error) {
	key := store.key + "|" + prefix
	v, _, err := caches.LoadOrNew(key, func() (caddy.Destructor, error) {
		return &pooledCaches{Caches: auth.NewCaches(0), key: key}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*pooledCaches), nil
}
