package session

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// memoryShards spreads keys over independently locked maps so that readers
	// on many cores do not all bounce one RWMutex's cache line.
	memoryShards = 32
	// sweepBatch bounds how many expired entries one write removes, so a burst
	// of simultaneous expiries never stalls a single request. A write adds at
	// most one entry and removes up to sweepBatch, so expired entries are
	// drained faster than any workload can add them.
	sweepBatch = 32
	// sweepEvery: one write in sweepEvery also sweeps another shard, in
	// turn, so expired entries go even from shards nobody writes to any more.
	sweepEvery = 8
)

// kind is what a key holds; mixing kinds on one key fails as it does in Redis,
// so code tested against the memory store behaves the same on Redis.
type kind uint8

const (
	kindValue kind = iota
	kindList
	kindCounter
)

func (k kind) String() string {
	switch k {
	case kindList:
		return "list"
	case kindCounter:
		return "counter"
	default:
		return "value"
	}
}

// Memory is a Store for a single process. It needs nothing installed and
// loses everything when the process exits.
//
// There is no background goroutine (it would outlive a Caddy config reload):
// an expired entry is treated as absent on read and removed then, and every
// write also removes a bounded batch of expired entries from its shard, in
// expiry order, and every few writes from another shard in turn, so keys
// that are never read again do not pile up.
type Memory struct {
	// Now, when set, replaces the real clock, so that tests can move time
	// forward without sleeping. Set it before the store is first used.
	// When nil, the store uses the monotonic clock: immune to wall-clock
	// jumps, and half the cost of time.Now on the read path.
	Now func() time.Time

	start  time.Time // origin of the monotonic timeline
	seed   maphash.Seed
	writes atomic.Uint64
	shards [memoryShards]memoryShard
}

type memoryShard struct {
	mu      sync.RWMutex
	entries map[string]*memoryEntry
	expiry  expiryHeap // every entry of the shard, soonest expiry first
}

// memoryEntry is laid out to fill a 64-byte size class exactly: there is one
// per key, so every byte counts at a million users.
type memoryEntry struct {
	key string
	// val is a kindValue's value, or a kindList's items newest first, each
	// as uvarint(len(item)) ‖ item: one allocation per list, not one per
	// item plus one for the slice of them. len == cap, so no slack is held.
	val   []byte
	count int64 // kindCounter
	exp   int64 // expiry on the timeline of Memory.now
	index int32 // position in the shard's expiry heap; 2³¹ entries would be 128 GiB
	kind  kind
}

// NewMemory returns an empty memory store; the zero Memory is not usable.
func NewMemory() *Memory {
	m := &Memory{start: time.Now(), seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].entries = make(map[string]*memoryEntry)
	}
	return m
}

var _ Store = (*Memory)(nil)

func (m *Memory) shard(key string) *memoryShard {
	return &m.shards[maphash.String(m.seed, key)%memoryShards]
}

// now returns the time in nanoseconds on the store's own timeline; expiries
// are on the same timeline.
func (m *Memory) now() int64 {
	if m.Now != nil {
		return m.Now().UnixNano()
	}
	return int64(time.Since(m.start)) // reads only the monotonic clock
}

// Get returns a copy of the value at key, so callers may modify it freely
// (decrypt in place, append) without touching the store. A counter reads as
// its decimal text, as in Redis.
//
// The clock is read only once the key is found, outside the lock: reading
// it can cost more than the rest of Get together, and the common hot-path
// question, "is this token revoked?", is usually answered by an absent key.
func (m *Memory) Get(_ context.Context, key string) ([]byte, error) {
	s := m.shard(key)
	s.mu.RLock()
	e, ok := s.entries[key]
	if !ok {
		s.mu.RUnlock()
		return nil, ErrNotFound
	}
	exp := e.exp
	var out []byte
	var err error
	switch e.kind {
	case kindValue:
		out = clone(e.val) // non-nil even when empty: present
	case kindCounter:
		out = strconv.AppendInt(nil, e.count, 10)
	default:
		err = wrongKind("get", e.kind, kindValue)
	}
	s.mu.RUnlock()
	if now := m.now(); exp <= now {
		s.removeIfExpired(key, now)
		return nil, ErrNotFound
	}
	return out, err
}

// GetMulti reads each key as Get does: copies, expiry, a counter as its
// decimal text. Every read takes the lock of its key's shard alone, so it
// holds up no writer longer than a Get would.
func (m *Memory) GetMulti(ctx context.Context, keys ...string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, key := range keys {
		v, err := m.Get(ctx, key)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return nil, err
		default:
			out[i] = v
		}
	}
	return out, nil
}

// sweepNext counts a write and, every sweepEvery writes, sweeps the next
// shard in turn. It runs with no shard locked.
func (m *Memory) sweepNext(now int64) {
	n := m.writes.Add(1)
	if n%sweepEvery != 0 {
		return
	}
	s := &m.shards[(n/sweepEvery)%memoryShards]
	s.mu.Lock()
	s.sweep(now)
	s.mu.Unlock()
}

// lockForWrite returns key's shard locked for writing and swept of a batch
// of expired entries, and the time the write happens at. Release it with
// unlockAfterWrite.
func (m *Memory) lockForWrite(key string) (*memoryShard, int64) {
	s := m.shard(key)
	now := m.now()
	s.mu.Lock()
	s.sweep(now)
	return s, now
}

// unlockAfterWrite unlocks s and only then counts the write towards
// sweeping another shard, so that no write holds two shard locks at once.
func (m *Memory) unlockAfterWrite(s *memoryShard, now int64) {
	s.mu.Unlock()
	m.sweepNext(now)
}

// removeIfExpired deletes key if it is still expired once the write lock is
// held; another writer may have replaced it in between.
func (s *memoryShard) removeIfExpired(key string, now int64) {
	s.mu.Lock()
	if e, ok := s.entries[key]; ok && e.exp <= now {
		s.remove(e)
	}
	s.mu.Unlock()
}

// Set stores a copy of value at key for ttl, replacing whatever key held.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL("set", ttl); err != nil {
		return err
	}
	s, now := m.lockForWrite(key)
	defer m.unlockAfterWrite(s, now)
	e := s.live(key, now)
	if e == nil {
		e = s.insert(key)
	}
	e.setValue(value)
	s.expireAt(e, now+int64(ttl))
	return nil
}

// SetNX stores a copy of value at key for ttl if key is absent or expired.
func (m *Memory) SetNX(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL("setnx", ttl); err != nil {
		return false, err
	}
	s, now := m.lockForWrite(key)
	defer m.unlockAfterWrite(s, now)
	if s.live(key, now) != nil {
		return false, nil
	}
	e := s.insert(key)
	e.setValue(value)
	s.expireAt(e, now+int64(ttl))
	return true, nil
}

// Expire makes key expire ttl from now, if it exists and has not expired.
func (m *Memory) Expire(_ context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkTTL("expire", ttl); err != nil {
		return false, err
	}
	s, now := m.lockForWrite(key)
	defer m.unlockAfterWrite(s, now)
	e := s.live(key, now)
	if e == nil {
		return false, nil
	}
	s.expireAt(e, now+int64(ttl))
	return true, nil
}

// Update runs change under key's shard lock, so no other write interleaves.
// change must not call back into the store.
func (m *Memory) Update(_ context.Context, key string, ttl time.Duration, change func(old []byte) ([]byte, error)) error {
	if err := checkTTL("update", ttl); err != nil {
		return err
	}
	s, now := m.lockForWrite(key)
	defer m.unlockAfterWrite(s, now)
	e := s.live(key, now)
	var old []byte
	if e != nil {
		switch e.kind {
		case kindValue:
			old = clone(e.val)
		case kindCounter: // a counter is its decimal text, as in Redis
			old = strconv.AppendInt(nil, e.count, 10)
		default:
			return wrongKind("update", e.kind, kindValue)
		}
	}
	value, err := change(old)
	if err != nil || value == nil {
		return err
	}
	if e == nil {
		e = s.insert(key)
	}
	e.setValue(value)
	s.expireAt(e, now+int64(ttl))
	return nil
}

// Delete removes key; an absent key is not an error.
func (m *Memory) Delete(_ context.Context, key string) error {
	s, now := m.lockForWrite(key)
	defer m.unlockAfterWrite(s, now)
	if e, ok := s.entries[key]; ok {
		s.remove(e)
	}
	return nil
}

// CompareAndDelete removes key under its shard lock if it holds exactly
// value; a list fails as it does for Get.
func (m *Memory) CompareAndDelete(_ context.Context, key string, value []byte) (bool, error) {
	s, now := m.lockForWrite(key)
	defer m.unlockAfterWrite(s, now)
	e := s.live(key, now)
	if e == nil {
		return false, nil
	}
	var cur []byte
	switch e.kind {
	case kindValue:
		cur = e.val
	case kindCounter: // a counter is its decimal text, as in Redis
		cur = strconv.AppendInt(nil, e.count, 10)
	default:
		return false, wrongKind("compare-and-delete", e.kind, kindValue)
	}
	if !bytes.Equal(cur, value) {
		return false, nil
	}
	s.remove(e)
	return true, nil
}

// Push puts a copy of value at the front of the list at key, keeps the newest
// keep items and makes the list expire ttl from now.
func (m *Memory) Push(_ context.Context, key string, value []byte, keep int, ttl time.Duration) error {
	if err := checkTTL("push", ttl); err != nil {
		return err
	}
	if keep < 1 {
		return fmt.Errorf("session: push: keep must be at least 1, got %d", keep)
	}
	s, now := m.lockForWrite(key)
	defer m.unlockAfterWrite(s, now)
	e := s.live(key, now)
	switch {
	case e == nil:
		e = s.insert(key)
		e.kind = kindList
	case e.kind != kindList:
		return wrongKind("push", e.kind, kindList)
	}
	// A fresh encoding rather than shifting in place: it has to grow at the
	// front anyway, and sizing it exactly frees the trimmed items' bytes.
	old := listPrefix(e.val, keep-1)
	var hdr [binary.MaxVarintLen64]byte
	h := binary.PutUvarint(hdr[:], uint64(len(value)))
	enc := make([]byte, 0, h+len(value)+len(old))
	enc = append(enc, hdr[:h]...)
	enc = append(enc, value...)
	e.val = append(enc, old...)
	s.expireAt(e, now+int64(ttl))
	return nil
}

// List returns copies of the items at key, newest first.
func (m *Memory) List(_ context.Context, key string) ([][]byte, error) {
	s := m.shard(key)
	s.mu.RLock()
	e, ok := s.entries[key]
	if !ok {
		s.mu.RUnlock()
		return [][]byte{}, nil
	}
	if now := m.now(); e.exp <= now {
		s.mu.RUnlock()
		s.removeIfExpired(key, now)
		return [][]byte{}, nil
	}
	if e.kind != kindList {
		s.mu.RUnlock()
		return nil, wrongKind("list", e.kind, kindList)
	}
	// One backing array for all items: two allocations whatever the length.
	n, size := 0, 0
	for rest := e.val; len(rest) > 0; n++ {
		var item []byte
		item, rest = nextItem(rest)
		size += len(item)
	}
	buf := make([]byte, 0, size)
	out := make([][]byte, n)
	rest := e.val
	for i := range out {
		var item []byte
		item, rest = nextItem(rest)
		start := len(buf)
		buf = append(buf, item...)
		out[i] = buf[start:len(buf):len(buf)] // an append by the caller reallocates
	}
	s.mu.RUnlock()
	return out, nil
}

// Incr adds one to the counter at key. A new counter starts at one and
// expires ttl from now; later calls do not move that expiry (a fixed window).
// A plain value holding a decimal integer counts on from it, as in Redis.
func (m *Memory) Incr(_ context.Context, key string, ttl time.Duration) (int64, error) {
	if err := checkTTL("incr", ttl); err != nil {
		return 0, err
	}
	s, now := m.lockForWrite(key)
	defer m.unlockAfterWrite(s, now)
	e := s.live(key, now)
	if e == nil {
		e = s.insert(key)
		e.kind = kindCounter
		e.count = 1
		s.expireAt(e, now+int64(ttl))
		return 1, nil
	}
	switch e.kind {
	case kindCounter:
	case kindValue:
		n, err := strconv.ParseInt(string(e.val), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("session: incr: key holds a value that is not an integer")
		}
		e.kind, e.val, e.count = kindCounter, nil, n
	default:
		return 0, wrongKind("incr", e.kind, kindCounter)
	}
	e.count++
	return e.count, nil
}

// Len reports how many entries the store holds, including expired ones not
// yet swept. It is meant for tests and benchmarks.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}

// live returns the unexpired entry at key, removing an expired one. The
// caller holds s.mu for writing.
func (s *memoryShard) live(key string, now int64) *memoryEntry {
	e, ok := s.entries[key]
	if !ok {
		return nil
	}
	if e.exp <= now {
		s.remove(e)
		return nil
	}
	return e
}

// insert adds an empty entry for key; the caller sets its kind, content and
// expiry (expireAt places it in the heap). The caller holds s.mu for writing.
func (s *memoryShard) insert(key string) *memoryEntry {
	e := &memoryEntry{key: key, index: -1}
	s.entries[key] = e
	return e
}

func (s *memoryShard) expireAt(e *memoryEntry, exp int64) {
	e.exp = exp
	if e.index < 0 {
		heap.Push(&s.expiry, e)
		return
	}
	heap.Fix(&s.expiry, int(e.index))
}

func (s *memoryShard) remove(e *memoryEntry) {
	delete(s.entries, e.key)
	if e.index >= 0 {
		heap.Remove(&s.expiry, int(e.index))
	}
}

// sweep removes up to sweepBatch expired entries, soonest first. The caller
// holds s.mu for writing.
func (s *memoryShard) sweep(now int64) {
	for range sweepBatch {
		if len(s.expiry) == 0 || s.expiry[0].exp > now {
			return
		}
		s.remove(s.expiry[0])
	}
}

func (e *memoryEntry) setValue(value []byte) {
	e.kind, e.val, e.count = kindValue, clone(value), 0
}

// nextItem splits the first item off a list encoding. The encoding is only
// ever built by Push, so it is well formed.
func nextItem(enc []byte) (item, rest []byte) {
	n, w := binary.Uvarint(enc)
	end := w + int(n)
	return enc[w:end], enc[end:]
}

// listPrefix returns the start of a list encoding that holds its first n
// items, or all of it if it holds fewer.
func listPrefix(enc []byte, n int) []byte {
	rest := enc
	for ; n > 0 && len(rest) > 0; n-- {
		_, rest = nextItem(rest)
	}
	return enc[:len(enc)-len(rest)]
}

// clone copies b with len == cap, so appending to the copy always reallocates.
func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

func checkTTL(op string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("session: %s: ttl must be positive, got %v (every key expires)", op, ttl)
	}
	return nil
}

func wrongKind(op string, have, want kind) error {
	return fmt.Errorf("session: %s: key holds a %s, not a %s", op, have, want)
}

// expiryHeap is a min-heap of entries by expiry; each entry knows its index
// so that a changed or deleted entry is fixed in O(log n).
type expiryHeap []*memoryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }

func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = int32(i)
	h[j].index = int32(j)
}

func (h *expiryHeap) Push(x any) {
	e := x.(*memoryEntry)
	e.index = int32(len(*h))
	*h = append(*h, e)
}

func (h *expiryHeap) Pop() any {
	old := *h
	n := len(old) - 1
	e := old[n]
	old[n] = nil // let the entry be collected
	e.index = -1
	*h = old[:n]
	return e
}
