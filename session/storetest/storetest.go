// Package storetest is the one contract every session.Store honours, written
// once and run against each implementation, so the memory store cannot drift
// from the Redis one.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/session"
)

const (
	// shortTTL is long enough to read a key back right after writing it and
	// short enough to wait out; expiry is then polled for up to expiryWait,
	// which absorbs a slow machine or Redis's own expiry resolution.
	shortTTL   = 200 * time.Millisecond
	expiryWait = 5 * time.Second
	longTTL    = time.Minute
)

// Run checks the Store contract with real, short TTLs, so it works the same
// against a store in memory and one across the network. newStore returns an
// empty store (or one whose keys no other test sees, such as a Redis store
// under a fresh prefix); it is called once per subtest, and subtests run in
// parallel.
func Run(t *testing.T, newStore func(t *testing.T) session.Store) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s session.Store)
	}{
		{"Get of an absent key returns ErrNotFound", getAbsent},
		{"Get returns what Set stored", setGet},
		{"GetMulti returns each key's value in order, nil for absent or expired ones", getMulti},
		{"GetMulti of no keys is empty", getMultiNone},
		{"GetMulti of a list fails like Get", getMultiList},
		{"Set replaces the value and its TTL", setReplaces},
		{"Changing a slice passed to or returned by the store leaves the store alone", isolation},
		{"Writes with a TTL of zero or less fail and store nothing", nonPositiveTTL},
		{"A value is gone once its TTL has passed", valueExpires},
		{"SetNX stores only when the key is absent", setNX},
		{"SetNX wins again once the key has expired", setNXAfterExpiry},
		{"Exactly one of 50 concurrent SetNX calls wins", setNXConcurrent},
		{"Expire extends a key of any kind and keeps its value", expireExtends},
		{"Expire shortens a key's TTL", expireShortens},
		{"Expire of an absent or expired key reports false and creates nothing", expireAbsent},
		{"Delete removes a key of any kind", deleteKinds},
		{"Delete of an absent key is not an error", deleteAbsent},
		{"CompareAndDelete removes a key holding exactly the value", compareAndDeleteEqual},
		{"CompareAndDelete keeps a key holding another value", compareAndDeleteDifferent},
		{"CompareAndDelete of an absent or expired key reports false and creates nothing", compareAndDeleteAbsent},
		{"Exactly one of 50 concurrent CompareAndDelete calls of the held value wins", compareAndDeleteConcurrent},
		{"Push keeps the newest keep items, newest first", pushKeeps},
		{"Push with keep below one fails", pushBadKeep},
		{"A list is gone once the TTL of its last Push has passed", listExpires},
		{"List of an absent key is empty", listAbsent},
		{"Update sees nil for an absent key and stores what change returns", updateAbsent},
		{"Update hands change the current value and replaces it and its TTL", updateReplaces},
		{"Update leaves the key alone when change returns nil or fails", updateNoWrite},
		{"20 concurrent Updates of one key lose none", updateConcurrent},
		{"Update of a list fails like Redis", updateList},
		{"Incr starts at one and counts up", incrCounts},
		{"100 concurrent Incr calls count to 100", incrConcurrent},
		{"A counter restarts at one after its window", incrExpires},
		{"Incr does not extend the window of an existing counter", incrFixedWindow},
		{"Keys of different kinds fail like Redis instead of mixing", kinds},
		{"Keys are independent of each other", independentKeys},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, newStore(t))
		})
	}
}

func getAbsent(t *testing.T, s session.Store) {
	got, err := s.Get(t.Context(), "absent")
	if !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get(absent) = %q, %v; want ErrNotFound", got, err)
	}
}

func setGet(t *testing.T, s session.Store) {
	for _, tc := range []struct {
		name  string
		value []byte
	}{
		{"empty", []byte{}},
		{"text", []byte("o6_bmjrPTlm6_2sgVt7hMZOPfL2M")},
		{"binary", []byte{0, 0xff, 0xfe, '\r', '\n', 0x80}},
		{"64 KiB", bytes.Repeat([]byte("0123456789abcdef"), 4096)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "k-" + tc.name
			mustSet(t, s, key, tc.value, longTTL)
			got := mustGet(t, s, key)
			if !bytes.Equal(got, tc.value) {
				t.Errorf("Get = %q (len %d), want %q (len %d)", clip(got), len(got), clip(tc.value), len(tc.value))
			}
		})
	}
}

func getMulti(t *testing.T, s session.Store) {
	ctx := t.Context()
	mustSet(t, s, "a", []byte("alpha"), longTTL)
	mustSet(t, s, "empty", []byte{}, longTTL)
	mustSet(t, s, "bin", []byte{0, 0xff, '\n'}, longTTL)
	mustSet(t, s, "gone", []byte("v"), shortTTL)
	mustIncr(t, s, "c", longTTL)
	mustIncr(t, s, "c", longTTL)
	waitAbsent(t, s, "gone")

	keys := []string{"bin", "never-set", "a", "gone", "empty", "c", "a"}
	want := [][]byte{{0, 0xff, '\n'}, nil, []byte("alpha"), nil, {}, []byte("2"), []byte("alpha")}
	got, err := s.GetMulti(ctx, keys...)
	if err != nil {
		t.Fatalf("GetMulti: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("GetMulti of %d keys returned %d values: %q", len(keys), len(got), got)
	}
	for i := range want {
		// An empty value is present: a non-nil empty slice, never nil.
		if !bytes.Equal(got[i], want[i]) || (got[i] == nil) != (want[i] == nil) {
			t.Errorf("GetMulti[%d] (%s) = %s, want %s", i, keys[i], show(got[i]), show(want[i]))
		}
	}

	// The values are the caller's, as Get's are.
	got[2][0] = 'X'
	_ = append(got[4], "grown"...)
	again, err := s.GetMulti(ctx, "a", "empty")
	if err != nil || string(again[0]) != "alpha" || again[1] == nil || len(again[1]) != 0 {
		t.Fatalf("GetMulti after changing its results = %q, %v; want [alpha \"\"]", again, err)
	}
}

func getMultiNone(t *testing.T, s session.Store) {
	got, err := s.GetMulti(t.Context())
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("GetMulti() = %#v, %v; want an empty, non-nil result", got, err)
	}
}

func getMultiList(t *testing.T, s session.Store) {
	mustSet(t, s, "v", []byte("value"), longTTL)
	mustPush(t, s, "l", "x")
	got, err := s.GetMulti(t.Context(), "v", "l", "absent")
	if err == nil || errors.Is(err, session.ErrNotFound) {
		t.Fatalf("GetMulti with a list among the keys = %q, %v; want an error other than ErrNotFound", got, err)
	}
}

func setReplaces(t *testing.T, s session.Store) {
	mustSet(t, s, "k", []byte("old"), shortTTL)
	mustSet(t, s, "k", []byte("new"), longTTL)
	if got := mustGet(t, s, "k"); string(got) != "new" {
		t.Fatalf("Get after second Set = %q, want new", got)
	}
	time.Sleep(2 * shortTTL)
	if got := mustGet(t, s, "k"); string(got) != "new" {
		t.Fatalf("Get after the first TTL passed = %q, want new (the second Set's TTL applies)", got)
	}
}

func isolation(t *testing.T, s session.Store) {
	ctx := t.Context()
	in := []byte("value")
	mustSet(t, s, "k", in, longTTL)
	in[0] = 'X'
	out := mustGet(t, s, "k")
	if string(out) != "value" {
		t.Fatalf("Get after changing Set's slice = %q, want value", out)
	}
	out[0] = 'Y'
	_ = append(out[:1], "ZZZZ"...) // must not reach into the store either
	if got := mustGet(t, s, "k"); string(got) != "value" {
		t.Fatalf("Get after changing Get's slice = %q, want value", got)
	}

	item := []byte("item")
	if err := s.Push(ctx, "l", item, 5, longTTL); err != nil {
		t.Fatalf("Push: %v", err)
	}
	item[0] = 'X'
	list := mustList(t, s, "l")
	if len(list) != 1 || string(list[0]) != "item" {
		t.Fatalf("List after changing Push's slice = %q, want [item]", list)
	}
	list[0][0] = 'Y'
	list[0] = []byte("replaced")
	if got := mustList(t, s, "l"); len(got) != 1 || string(got[0]) != "item" {
		t.Fatalf("List after changing List's slices = %q, want [item]", got)
	}
}

func nonPositiveTTL(t *testing.T, s session.Store) {
	ctx := t.Context()
	for _, ttl := range []time.Duration{0, -time.Second} {
		for _, op := range []struct {
			name string
			call func(key string) error
		}{
			{"Set", func(k string) error { return s.Set(ctx, k, []byte("v"), ttl) }},
			{"SetNX", func(k string) error { _, err := s.SetNX(ctx, k, []byte("v"), ttl); return err }},
			{"Push", func(k string) error { return s.Push(ctx, k, []byte("v"), 3, ttl) }},
			{"Incr", func(k string) error { _, err := s.Incr(ctx, k, ttl); return err }},
			{"Expire", func(k string) error {
				mustSet(t, s, k, []byte("v"), longTTL)
				defer s.Delete(ctx, k)
				_, err := s.Expire(ctx, k, ttl)
				return err
			}},
		} {
			t.Run(fmt.Sprintf("%s with ttl %v", op.name, ttl), func(t *testing.T) {
				key := fmt.Sprintf("k-%s-%d", op.name, ttl)
				if err := op.call(key); err == nil {
					t.Fatalf("%s with ttl %v succeeded; want an error (every key expires)", op.name, ttl)
				}
				if _, err := s.Get(ctx, key); !errors.Is(err, session.ErrNotFound) {
					t.Errorf("Get after the failed %s = %v, want ErrNotFound", op.name, err)
				}
			})
		}
	}
}

func valueExpires(t *testing.T, s session.Store) {
	mustSet(t, s, "k", []byte("v"), shortTTL)
	if got := mustGet(t, s, "k"); string(got) != "v" {
		t.Fatalf("Get right after Set = %q, want v", got)
	}
	waitAbsent(t, s, "k")
}

func expireExtends(t *testing.T, s session.Store) {
	ctx := t.Context()
	mustSet(t, s, "v", []byte("value"), shortTTL)
	mustPush(t, s, "l", "item")
	if _, err := s.Expire(ctx, "l", shortTTL); err != nil {
		t.Fatalf("Expire of the list before the test: %v", err)
	}
	mustIncr(t, s, "c", shortTTL)
	for _, k := range []string{"v", "l", "c"} {
		if ok, err := s.Expire(ctx, k, longTTL); err != nil || !ok {
			t.Fatalf("Expire(%s) = %v, %v; want true", k, ok, err)
		}
	}
	time.Sleep(2 * shortTTL)
	if got := mustGet(t, s, "v"); string(got) != "value" {
		t.Errorf("value after its first TTL = %q, want value (Expire extended it)", got)
	}
	if got := strs(mustList(t, s, "l")); len(got) != 1 || got[0] != "item" {
		t.Errorf("list after its first TTL = %q, want [item]", got)
	}
	if got := mustGet(t, s, "c"); string(got) != "1" {
		t.Errorf("counter after its first TTL = %q, want 1", got)
	}
}

func expireShortens(t *testing.T, s session.Store) {
	mustSet(t, s, "k", []byte("v"), longTTL)
	if ok, err := s.Expire(t.Context(), "k", shortTTL); err != nil || !ok {
		t.Fatalf("Expire = %v, %v; want true", ok, err)
	}
	waitAbsent(t, s, "k")
}

func expireAbsent(t *testing.T, s session.Store) {
	ctx := t.Context()
	if ok, err := s.Expire(ctx, "never-set", longTTL); err != nil || ok {
		t.Fatalf("Expire of an absent key = %v, %v; want false", ok, err)
	}
	mustSet(t, s, "gone", []byte("v"), shortTTL)
	waitAbsent(t, s, "gone")
	if ok, err := s.Expire(ctx, "gone", longTTL); err != nil || ok {
		t.Fatalf("Expire of an expired key = %v, %v; want false", ok, err)
	}
	for _, k := range []string{"never-set", "gone"} {
		if _, err := s.Get(ctx, k); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Get(%s) after Expire = %v, want ErrNotFound", k, err)
		}
	}
}

func setNX(t *testing.T, s session.Store) {
	ctx := t.Context()
	for _, step := range []struct {
		value string
		want  bool
	}{
		{"first", true},
		{"second", false},
		{"third", false},
	} {
		ok, err := s.SetNX(ctx, "k", []byte(step.value), longTTL)
		if err != nil || ok != step.want {
			t.Fatalf("SetNX(%s) = %v, %v; want %v, nil", step.value, ok, err, step.want)
		}
	}
	if got := mustGet(t, s, "k"); string(got) != "first" {
		t.Fatalf("Get = %q, want first (a losing SetNX changes nothing)", got)
	}
}

func setNXAfterExpiry(t *testing.T, s session.Store) {
	ctx := t.Context()
	if ok, err := s.SetNX(ctx, "k", []byte("first"), shortTTL); !ok || err != nil {
		t.Fatalf("first SetNX = %v, %v; want true, nil", ok, err)
	}
	waitAbsent(t, s, "k")
	if ok, err := s.SetNX(ctx, "k", []byte("second"), longTTL); !ok || err != nil {
		t.Fatalf("SetNX after expiry = %v, %v; want true, nil", ok, err)
	}
	if got := mustGet(t, s, "k"); string(got) != "second" {
		t.Fatalf("Get = %q, want second", got)
	}
}

func setNXConcurrent(t *testing.T, s session.Store) {
	ctx := t.Context()
	const n = 50
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
		errs    []error
	)
	for i := range n {
		wg.Go(func() {
			v := fmt.Sprintf("caller-%d", i)
			ok, err := s.SetNX(ctx, "lock", []byte(v), longTTL)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				winners = append(winners, v)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d SetNX calls failed, first: %v", len(errs), errs[0])
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d SetNX calls won (%v), want exactly 1", len(winners), n, winners)
	}
	if got := mustGet(t, s, "lock"); string(got) != winners[0] {
		t.Fatalf("Get = %q, want the winner's %q", got, winners[0])
	}
}

func deleteKinds(t *testing.T, s session.Store) {
	ctx := t.Context()
	for _, tc := range []struct {
		kind  string
		write func(key string) error
	}{
		{"value", func(k string) error { return s.Set(ctx, k, []byte("v"), longTTL) }},
		{"list", func(k string) error { return s.Push(ctx, k, []byte("v"), 3, longTTL) }},
		{"counter", func(k string) error { _, err := s.Incr(ctx, k, longTTL); return err }},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			key := "k-" + tc.kind
			if err := tc.write(key); err != nil {
				t.Fatalf("writing a %s: %v", tc.kind, err)
			}
			if err := s.Delete(ctx, key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := s.Get(ctx, key); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("Get after Delete = %v, want ErrNotFound", err)
			}
			if n, err := s.Incr(ctx, key, longTTL); n != 1 || err != nil {
				t.Errorf("Incr after Delete = %d, %v; want 1, nil (a fresh key)", n, err)
			}
		})
	}
}

func deleteAbsent(t *testing.T, s session.Store) {
	if err := s.Delete(t.Context(), "absent"); err != nil {
		t.Fatalf("Delete(absent) = %v, want nil", err)
	}
}

func compareAndDeleteEqual(t *testing.T, s session.Store) {
	for _, tc := range []struct {
		name  string
		value []byte
	}{
		{"text", []byte("t1")},
		{"empty", []byte{}},
		{"binary", []byte{0, 0xff, '\n', 0x80}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "k-" + tc.name
			mustSet(t, s, key, tc.value, longTTL)
			if ok, err := s.CompareAndDelete(t.Context(), key, slices.Clone(tc.value)); err != nil || !ok {
				t.Fatalf("CompareAndDelete = %v, %v; want true, nil", ok, err)
			}
			if _, err := s.Get(t.Context(), key); !errors.Is(err, session.ErrNotFound) {
				t.Fatalf("Get after CompareAndDelete = %v, want ErrNotFound", err)
			}
		})
	}
}

func compareAndDeleteDifferent(t *testing.T, s session.Store) {
	mustSet(t, s, "k", []byte("value"), longTTL)
	// A prefix, an extension and the empty value are all other values.
	for _, other := range []string{"other", "valu", "value2", "VALUE", ""} {
		if ok, err := s.CompareAndDelete(t.Context(), "k", []byte(other)); err != nil || ok {
			t.Fatalf("CompareAndDelete(%q) = %v, %v; want false, nil", other, ok, err)
		}
	}
	if got := mustGet(t, s, "k"); string(got) != "value" {
		t.Fatalf("Get = %q, want value (left alone)", got)
	}
}

func compareAndDeleteAbsent(t *testing.T, s session.Store) {
	ctx := t.Context()
	mustSet(t, s, "gone", []byte("v"), shortTTL)
	waitAbsent(t, s, "gone")
	for _, tc := range []struct{ key, value string }{
		{"never-set", "v"},
		{"never-set", ""}, // nothing is not the empty value
		{"gone", "v"},
	} {
		if ok, err := s.CompareAndDelete(ctx, tc.key, []byte(tc.value)); err != nil || ok {
			t.Fatalf("CompareAndDelete(%s, %q) = %v, %v; want false, nil", tc.key, tc.value, ok, err)
		}
		if _, err := s.Get(ctx, tc.key); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Get(%s) after CompareAndDelete = %v, want ErrNotFound", tc.key, err)
		}
	}
}

func compareAndDeleteConcurrent(t *testing.T, s session.Store) {
	ctx := t.Context()
	const n = 50
	mustSet(t, s, "lock", []byte("holder"), longTTL)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  int
		errs []error
	)
	for range n {
		wg.Go(func() {
			ok, err := s.CompareAndDelete(ctx, "lock", []byte("holder"))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				won++
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d CompareAndDelete calls failed, first: %v", len(errs), errs[0])
	}
	if won != 1 {
		t.Fatalf("%d of %d CompareAndDelete calls reported true, want exactly 1", won, n)
	}
	if _, err := s.Get(ctx, "lock"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get after the CompareAndDelete calls = %v, want ErrNotFound", err)
	}
}

func pushKeeps(t *testing.T, s session.Store) {
	for _, tc := range []struct {
		keep int
		want []string
	}{
		{1, []string{"e"}},
		{3, []string{"e", "d", "c"}},
		{5, []string{"e", "d", "c", "b", "a"}},
		{10, []string{"e", "d", "c", "b", "a"}},
	} {
		t.Run(fmt.Sprintf("keep %d", tc.keep), func(t *testing.T) {
			key := fmt.Sprintf("l-%d", tc.keep)
			for _, v := range []string{"a", "b", "c", "d", "e"} {
				if err := s.Push(t.Context(), key, []byte(v), tc.keep, longTTL); err != nil {
					t.Fatalf("Push(%s): %v", v, err)
				}
			}
			if got := strs(mustList(t, s, key)); !slices.Equal(got, tc.want) {
				t.Errorf("List = %q, want %q", got, tc.want)
			}
		})
	}
}

func pushBadKeep(t *testing.T, s session.Store) {
	for _, keep := range []int{0, -1} {
		if err := s.Push(t.Context(), "l", []byte("v"), keep, longTTL); err == nil {
			t.Errorf("Push with keep %d succeeded, want an error", keep)
		}
	}
	if got := mustList(t, s, "l"); len(got) != 0 {
		t.Errorf("List after failed Pushes = %q, want empty", got)
	}
}

func listExpires(t *testing.T, s session.Store) {
	ctx := t.Context()
	if err := s.Push(ctx, "l", []byte("a"), 3, longTTL); err != nil {
		t.Fatalf("Push: %v", err)
	}
	// The last Push sets the expiry of the whole list, shorter or longer.
	if err := s.Push(ctx, "l", []byte("b"), 3, shortTTL); err != nil {
		t.Fatalf("Push: %v", err)
	}
	if got := strs(mustList(t, s, "l")); !slices.Equal(got, []string{"b", "a"}) {
		t.Fatalf("List right after Push = %q, want [b a]", got)
	}
	deadline := time.Now().Add(expiryWait)
	for len(mustList(t, s, "l")) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("list still there %v after a Push with TTL %v", expiryWait, shortTTL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func listAbsent(t *testing.T, s session.Store) {
	got, err := s.List(t.Context(), "absent")
	if err != nil || len(got) != 0 {
		t.Fatalf("List(absent) = %q, %v; want empty, nil", got, err)
	}
}

func updateAbsent(t *testing.T, s session.Store) {
	var seen []byte
	err := s.Update(t.Context(), "u", shortTTL, func(old []byte) ([]byte, error) {
		seen = old
		return []byte("new"), nil
	})
	if err != nil || seen != nil {
		t.Fatalf("Update of an absent key: err %v, change saw %q; want nil, nil", err, seen)
	}
	if got := mustGet(t, s, "u"); string(got) != "new" {
		t.Fatalf("Get = %q, want %q", got, "new")
	}
	waitAbsent(t, s, "u")
}

func updateReplaces(t *testing.T, s session.Store) {
	mustSet(t, s, "u", []byte("old"), longTTL)
	var seen string
	err := s.Update(t.Context(), "u", shortTTL, func(old []byte) ([]byte, error) {
		seen = string(old)
		return append(old, "+1"...), nil
	})
	if err != nil || seen != "old" {
		t.Fatalf("Update: err %v, change saw %q; want nil, %q", err, seen, "old")
	}
	if got := mustGet(t, s, "u"); string(got) != "old+1" {
		t.Fatalf("Get = %q, want %q", got, "old+1")
	}
	waitAbsent(t, s, "u") // the TTL is Update's, not the old Set's
}

func updateNoWrite(t *testing.T, s session.Store) {
	mustSet(t, s, "u", []byte("kept"), longTTL)
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		change  func([]byte) ([]byte, error)
		wantErr error
	}{
		{"nil", func([]byte) ([]byte, error) { return nil, nil }, nil},
		{"error", func([]byte) ([]byte, error) { return []byte("lost"), boom }, boom},
	} {
		if err := s.Update(t.Context(), "u", longTTL, tc.change); !errors.Is(err, tc.wantErr) {
			t.Fatalf("%s: Update = %v, want %v", tc.name, err, tc.wantErr)
		}
		if got := mustGet(t, s, "u"); string(got) != "kept" {
			t.Fatalf("%s: Get = %q, want %q", tc.name, got, "kept")
		}
	}
	err := s.Update(t.Context(), "absent", longTTL, func([]byte) ([]byte, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(t.Context(), "absent"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get(absent) after a nil change = %q, %v; want ErrNotFound", got, err)
	}
}

func updateConcurrent(t *testing.T, s session.Store) {
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- s.Update(t.Context(), "u", longTTL, func(old []byte) ([]byte, error) {
				return fmt.Appendf(old, "%d,", i), nil
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := strings.Split(strings.TrimSuffix(string(mustGet(t, s, "u")), ","), ",")
	slices.Sort(got)
	if len(got) != n || len(slices.Compact(got)) != n {
		t.Fatalf("after %d concurrent Updates the value holds %d distinct writes: %v", n, len(got), got)
	}
}

func updateList(t *testing.T, s session.Store) {
	mustPush(t, s, "l", "x")
	err := s.Update(t.Context(), "l", longTTL, func([]byte) ([]byte, error) { return []byte("v"), nil })
	if err == nil || errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Update of a list = %v, want an error other than ErrNotFound", err)
	}
	if got := mustList(t, s, "l"); len(got) != 1 {
		t.Fatalf("the list holds %v after a failed Update, want it unchanged", strs(got))
	}
}

func incrCounts(t *testing.T, s session.Store) {
	for want := int64(1); want <= 5; want++ {
		if n := mustIncr(t, s, "c", longTTL); n != want {
			t.Fatalf("Incr #%d = %d, want %d", want, n, want)
		}
	}
}

func incrConcurrent(t *testing.T, s session.Store) {
	const n = 100
	ctx := t.Context()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen []int64
		errs []error
	)
	for range n {
		wg.Go(func() {
			v, err := s.Incr(ctx, "c", longTTL)
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, v)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d Incr calls failed, first: %v", len(errs), errs[0])
	}
	slices.Sort(seen)
	for i, v := range seen {
		if v != int64(i+1) {
			t.Fatalf("concurrent Incr results = %v, want each of 1..%d once", seen, n)
		}
	}
	if got := mustIncr(t, s, "c", longTTL); got != n+1 {
		t.Fatalf("Incr after %d concurrent calls = %d, want %d", n, got, n+1)
	}
}

func incrExpires(t *testing.T, s session.Store) {
	mustIncr(t, s, "c", shortTTL)
	if n := mustIncr(t, s, "c", shortTTL); n != 2 {
		t.Fatalf("second Incr = %d, want 2", n)
	}
	waitAbsent(t, s, "c")
	if n := mustIncr(t, s, "c", shortTTL); n != 1 {
		t.Fatalf("Incr after the window = %d, want 1", n)
	}
}

func incrFixedWindow(t *testing.T, s session.Store) {
	const window = 400 * time.Millisecond
	mustIncr(t, s, "c", window)
	time.Sleep(window / 2)
	second := time.Now()
	if n := mustIncr(t, s, "c", window); n != 2 {
		t.Skipf("second Incr = %d: the machine is too slow to land it inside a %v window", n, window)
	}
	// Had the second Incr restarted the window, the counter would live until
	// second+window; the first window ends about window/2 earlier.
	waitAbsent(t, s, "c")
	if gone := time.Since(second); gone >= window {
		t.Fatalf("counter lived %v after the second Incr; want less than %v (the window starts at the first hit)", gone.Round(time.Millisecond), window)
	}
}

func kinds(t *testing.T, s session.Store) {
	ctx := t.Context()
	for _, tc := range []struct {
		name    string
		run     func(t *testing.T, key string) (string, error)
		want    string
		wantErr bool
	}{
		{"Push onto a value fails", func(t *testing.T, k string) (string, error) {
			mustSet(t, s, k, []byte("v"), longTTL)
			return "", s.Push(ctx, k, []byte("x"), 3, longTTL)
		}, "", true},
		{"Get of a list fails", func(t *testing.T, k string) (string, error) {
			mustPush(t, s, k, "x")
			b, err := s.Get(ctx, k)
			return string(b), err
		}, "", true},
		{"List of a value fails", func(t *testing.T, k string) (string, error) {
			mustSet(t, s, k, []byte("v"), longTTL)
			l, err := s.List(ctx, k)
			return fmt.Sprint(strs(l)), err
		}, "", true},
		{"Incr of a non-number fails", func(t *testing.T, k string) (string, error) {
			mustSet(t, s, k, []byte("abc"), longTTL)
			n, err := s.Incr(ctx, k, longTTL)
			return fmt.Sprint(n), err
		}, "", true},
		{"Incr of a decimal value counts on from it", func(t *testing.T, k string) (string, error) {
			mustSet(t, s, k, []byte("41"), longTTL)
			n, err := s.Incr(ctx, k, longTTL)
			return fmt.Sprint(n), err
		}, "42", false},
		{"Get of a counter reads its decimal text", func(t *testing.T, k string) (string, error) {
			mustIncr(t, s, k, longTTL)
			mustIncr(t, s, k, longTTL)
			b, err := s.Get(ctx, k)
			return string(b), err
		}, "2", false},
		{"Set over a list replaces it", func(t *testing.T, k string) (string, error) {
			mustPush(t, s, k, "x")
			mustSet(t, s, k, []byte("v"), longTTL)
			b, err := s.Get(ctx, k)
			return string(b), err
		}, "v", false},
		{"CompareAndDelete of a list fails and keeps it", func(t *testing.T, k string) (string, error) {
			mustPush(t, s, k, "x")
			ok, err := s.CompareAndDelete(ctx, k, []byte("x"))
			if got := strs(mustList(t, s, k)); len(got) != 1 || got[0] != "x" {
				t.Errorf("the list holds %q after CompareAndDelete, want [x]", got)
			}
			return fmt.Sprint(ok), err
		}, "", true},
		{"CompareAndDelete of a counter compares its decimal text", func(t *testing.T, k string) (string, error) {
			mustIncr(t, s, k, longTTL)
			mustIncr(t, s, k, longTTL)
			if ok, err := s.CompareAndDelete(ctx, k, []byte("1")); ok || err != nil {
				return fmt.Sprint(ok), err
			}
			ok, err := s.CompareAndDelete(ctx, k, []byte("2"))
			if _, gerr := s.Get(ctx, k); !errors.Is(gerr, session.ErrNotFound) {
				t.Errorf("Get after deleting the counter = %v, want ErrNotFound", gerr)
			}
			return fmt.Sprint(ok), err
		}, "true", false},
		{"SetNX over a list loses", func(t *testing.T, k string) (string, error) {
			mustPush(t, s, k, "x")
			ok, err := s.SetNX(ctx, k, []byte("v"), longTTL)
			return fmt.Sprint(ok), err
		}, "false", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.run(t, "k-"+tc.name)
			if tc.wantErr {
				if err == nil || errors.Is(err, session.ErrNotFound) {
					t.Fatalf("got %q, %v; want an error other than ErrNotFound", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q, nil", got, err, tc.want)
			}
		})
	}
}

func independentKeys(t *testing.T, s session.Store) {
	mustSet(t, s, "a", []byte("1"), longTTL)
	mustSet(t, s, "b", []byte("2"), longTTL)
	if err := s.Delete(t.Context(), "a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got := mustGet(t, s, "b"); string(got) != "2" {
		t.Fatalf("Get(b) after Delete(a) = %q, want 2", got)
	}
}

// waitAbsent polls until key reads as absent, failing after expiryWait.
func waitAbsent(t *testing.T, s session.Store, key string) {
	t.Helper()
	deadline := time.Now().Add(expiryWait)
	for {
		_, err := s.Get(t.Context(), key)
		if errors.Is(err, session.ErrNotFound) {
			return
		}
		if err != nil {
			t.Fatalf("Get while waiting for expiry: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("key still present %v after it was due to expire", expiryWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustSet(t *testing.T, s session.Store, key string, v []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Set(t.Context(), key, v, ttl); err != nil {
		t.Fatalf("Set: %v", err)
	}
}

func mustGet(t *testing.T, s session.Store, key string) []byte {
	t.Helper()
	v, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return v
}

func mustPush(t *testing.T, s session.Store, key, v string) {
	t.Helper()
	if err := s.Push(t.Context(), key, []byte(v), 3, longTTL); err != nil {
		t.Fatalf("Push: %v", err)
	}
}

func mustList(t *testing.T, s session.Store, key string) [][]byte {
	t.Helper()
	l, err := s.List(t.Context(), key)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return l
}

func mustIncr(t *testing.T, s session.Store, key string, ttl time.Duration) int64 {
	t.Helper()
	n, err := s.Incr(t.Context(), key, ttl)
	if err != nil {
		t.Fatalf("Incr: %v", err)
	}
	return n
}

func strs(l [][]byte) []string {
	out := make([]string, len(l))
	for i, b := range l {
		out[i] = string(b)
	}
	return out
}

// show tells nil from empty in a failure message.
func show(b []byte) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprintf("%q", b)
}

// clip shortens a value for a failure message.
func clip(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
