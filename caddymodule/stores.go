package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/wxauth/caddy-wxauth/session"
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
	key := "redis:" + rawURL
	v, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		client, err := session.NewRedisClient(rawURL)
		if err != nil {
			return nil, err
		}
		return &pooledStore{Store: session.NewRedis(client, ""), key: key, closer: client.Close}, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("redis: %w", err)
	}
	return v.(*pooledStore), prefix, nil
}
