// Package session keeps what wxauth must remember between requests — bound phone
// numbers, recent session_keys, revoked token ids, signing keys, the access_token,
// rate-limit counters — behind one small key/value contract. The memory store serves
// one process; the Redis store lets many Caddy instances share all of it, and
// carries messages between them (Broadcaster).
//
// The package knows nothing of WeChat, tokens or Caddy: callers choose the keys and
// encode the values.
package session

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Get when a key is absent or expired.
var ErrNotFound = errors.New("session: key not found")

// Store is the contract every store honours; storetest.Run checks it. Every key
// is written with a TTL (nothing grows forever) and every method is safe for
// concurrent use. Errors other than ErrNotFound mean the store could not be
// reached or answered nonsense; callers treat them as "store unavailable".
type Store interface {
	// Get returns the value at key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// GetMulti returns the values at keys, in the order given, in one round
	// trip: nil for a key that is absent or expired, a non-nil slice (empty
	// for an empty value) for one that is present, a counter as its decimal
	// text. A key holding a list fails the whole call, as with Get. It is not
	// a snapshot: another writer may change one key between the reads of two
	// others. No keys give an empty result without reaching the store.
	GetMulti(ctx context.Context, keys ...string) ([][]byte, error)
	// Set stores value at key for ttl, replacing any value.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetNX stores value at key for ttl only if key is absent, and reports
	// whether it did. Exactly one of many concurrent callers wins.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Expire makes key, of any kind, expire ttl from now without changing
	// its value, and reports whether key existed.
	Expire(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Delete removes key; removing an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// CompareAndDelete removes key only if it holds exactly value, and
	// reports whether it did, atomically: a value another writer stored in
	// between is never removed. An absent or expired key, or another value,
	// reports false and removes nothing; a counter compares as its decimal
	// text, and a list fails, as with Get. Of many concurrent calls with
	// the value key holds, exactly one reports true. It releases what a
	// caller took with SetNX, or drops a value only while it is the one the
	// caller read.
	CompareAndDelete(ctx context.Context, key string, value []byte) (bool, error)
	// Push puts value at the front of the list at key, keeps only the newest
	// keep items, and makes the whole list expire ttl from now.
	Push(ctx context.Context, key string, value []byte, keep int, ttl time.Duration) error
	// List returns the list at key, newest first; an absent key is an empty list.
	List(ctx context.Context, key string) ([][]byte, error)
	// Update replaces the value at key with what change makes of the current
	// one (nil when key is absent or expired), atomically: when another
	// writer changes key in between, change runs again on the new value, so
	// no concurrent update is lost. The new value expires ttl from now; when
	// change returns nil, key is left as it is. An error from change is
	// returned as it is, and nothing is written.
	Update(ctx context.Context, key string, ttl time.Duration, change func(old []byte) ([]byte, error)) error
	// Incr adds one to the counter at key and returns the new count. A counter
	// that did not exist starts at one and expires ttl from then (a fixed window).
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
}
