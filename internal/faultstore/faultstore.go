// Package faultstore is the test kit's session.Store that misbehaves on
// demand: it wraps a real store, counts calls by operation, fails or holds up
// the operations a test names, and can lose everything it holds, as a Redis
// restarted without persistence does.
package faultstore

import (
	"context"
	"sync"
	"time"

	"github.com/wxauth/caddy-wxauth/session"
)

// Op names a session.Store method.
type Op string

// The operations of session.Store.
const (
	Get              Op = "Get"
	GetMulti         Op = "GetMulti"
	Set              Op = "Set"
	SetNX            Op = "SetNX"
	Expire           Op = "Expire"
	Delete           Op = "Delete"
	CompareAndDelete Op = "CompareAndDelete"
	Push             Op = "Push"
	List             Op = "List"
	Update           Op = "Update"
	Incr             Op = "Incr"
)

// allOps is every Op, for Fail without any.
var allOps = []Op{Get, GetMulti, Set, SetNX, Expire, Delete, CompareAndDelete, Push, List, Update, Incr}

// Store is a session.Store that passes each call to the store it wraps,
// after counting it, running the operation's hook and applying the
// operation's failure. It is safe for concurrent use.
//
// It is not a session.Broadcaster, even around a store that is: it would
// then claim to be one around every store, and a caller asking
// store.(session.Broadcaster) whether it must listen for other instances'
// changes would be told yes around a Memory too.
type Store struct {
	mu    sync.Mutex
	inner session.Store
	fresh func() session.Store
	calls map[Op]int
	fail  map[Op]error
	hooks map[Op]func(ctx context.Context) error
}

var _ session.Store = (*Store)(nil)

// New wraps the store fresh returns; Wipe replaces it with another one.
func New(fresh func() session.Store) *Store {
	return &Store{
		inner: fresh(),
		fresh: fresh,
		calls: make(map[Op]int),
		fail:  make(map[Op]error),
		hooks: make(map[Op]func(context.Context) error),
	}
}

// Memory wraps session.NewMemory() running on now (the real clock when nil),
// so that TTLs pass as a fake clock moves.
func Memory(now func() time.Time) *Store {
	return New(func() session.Store {
		m := session.NewMemory()
		m.Now = now
		return m
	})
}

// Wipe loses every key at once: what is stored from now on goes to a fresh
// store. Counts, failures and hooks are kept.
func (s *Store) Wipe() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inner = s.fresh()
}

// Calls returns how many calls of the given operations were made, failed
// ones included; with no operation, of every operation.
func (s *Store) Calls(ops ...Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ops) == 0 {
		n := 0
		for _, c := range s.calls {
			n += c
		}
		return n
	}
	n := 0
	for _, op := range ops {
		n += s.calls[op]
	}
	return n
}

// Fail makes the given operations (every one when none is given) return err
// without reaching the wrapped store; a nil err makes them work again.
func (s *Store) Fail(err error, ops ...Op) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ops) == 0 {
		ops = allOps
	}
	for _, op := range ops {
		if err == nil {
			delete(s.fail, op)
		} else {
			s.fail[op] = err
		}
	}
}

// Hook runs fn with the call's context before every call of op; an error
// from fn is returned instead of calling the wrapped store. fn may block (to
// hold a call up) and runs with no lock held. A nil fn removes the hook.
func (s *Store) Hook(op Op, fn func(ctx context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fn == nil {
		delete(s.hooks, op)
	} else {
		s.hooks[op] = fn
	}
}

// enter counts a call of op, runs its hook and returns the store to use, or
// the error to return instead.
func (s *Store) enter(ctx context.Context, op Op) (session.Store, error) {
	s.mu.Lock()
	s.calls[op]++
	hook := s.hooks[op]
	s.mu.Unlock()
	if hook != nil {
		if err := hook(ctx); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail[op]; err != nil {
		return nil, err
	}
	return s.inner, nil
}

func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	in, err := s.enter(ctx, Get)
	if err != nil {
		return nil, err
	}
	return in.Get(ctx, key)
}

func (s *Store) GetMulti(ctx context.Context, keys ...string) ([][]byte, error) {
	in, err := s.enter(ctx, GetMulti)
	if err != nil {
		return nil, err
	}
	return in.GetMulti(ctx, keys...)
}

func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	in, err := s.enter(ctx, Set)
	if err != nil {
		return err
	}
	return in.Set(ctx, key, value, ttl)
}

func (s *Store) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	in, err := s.enter(ctx, SetNX)
	if err != nil {
		return false, err
	}
	return in.SetNX(ctx, key, value, ttl)
}

func (s *Store) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	in, err := s.enter(ctx, Expire)
	if err != nil {
		return false, err
	}
	return in.Expire(ctx, key, ttl)
}

func (s *Store) Delete(ctx context.Context, key string) error {
	in, err := s.enter(ctx, Delete)
	if err != nil {
		return err
	}
	return in.Delete(ctx, key)
}

func (s *Store) CompareAndDelete(ctx context.Context, key string, value []byte) (bool, error) {
	in, err := s.enter(ctx, CompareAndDelete)
	if err != nil {
		return false, err
	}
	return in.CompareAndDelete(ctx, key, value)
}

func (s *Store) Push(ctx context.Context, key string, value []byte, keep int, ttl time.Duration) error {
	in, err := s.enter(ctx, Push)
	if err != nil {
		return err
	}
	return in.Push(ctx, key, value, keep, ttl)
}

func (s *Store) List(ctx context.Context, key string) ([][]byte, error) {
	in, err := s.enter(ctx, List)
	if err != nil {
		return nil, err
	}
	return in.List(ctx, key)
}

func (s *Store) Update(ctx context.Context, key string, ttl time.Duration, change func(old []byte) ([]byte, error)) error {
	in, err := s.enter(ctx, Update)
	if err != nil {
		return err
	}
	return in.Update(ctx, key, ttl, change)
}

func (s *Store) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	in, err := s.enter(ctx, Incr)
	if err != nil {
		return 0, err
	}
	return in.Incr(ctx, key, ttl)
}
