package session_test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/fakeclock"
	"github.com/wxauth/caddy-wxauth/session"
	"github.com/wxauth/caddy-wxauth/session/storetest"
)

func TestMemoryHonoursTheStoreContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) session.Store { return session.NewMemory() })
}

func newMemoryWithClock() (*session.Memory, *fakeclock.Clock) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	m := session.NewMemory()
	m.Now = clock.Now
	return m, clock
}

func TestMemoryExpiresEachKindExactlyAtItsTTL(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		kind  string
		write func(m *session.Memory) error
		alive func(m *session.Memory) bool
	}{
		{"value",
			func(m *session.Memory) error { return m.Set(ctx, "k", []byte("v"), time.Hour) },
			func(m *session.Memory) bool { _, err := m.Get(ctx, "k"); return err == nil }},
		{"SetNX value",
			func(m *session.Memory) error { _, err := m.SetNX(ctx, "k", []byte("v"), time.Hour); return err },
			func(m *session.Memory) bool { _, err := m.Get(ctx, "k"); return err == nil }},
		{"list",
			func(m *session.Memory) error { return m.Push(ctx, "k", []byte("v"), 3, time.Hour) },
			func(m *session.Memory) bool { l, _ := m.List(ctx, "k"); return len(l) > 0 }},
		{"counter",
			func(m *session.Memory) error { _, err := m.Incr(ctx, "k", time.Hour); return err },
			func(m *session.Memory) bool { n, _ := m.Incr(ctx, "k", time.Hour); return n > 1 }},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			m, clock := newMemoryWithClock()
			if err := tc.write(m); err != nil {
				t.Fatalf("write: %v", err)
			}
			clock.Advance(time.Hour - time.Nanosecond)
			if !tc.alive(m) {
				t.Fatal("gone a nanosecond before its TTL")
			}
			clock.Advance(time.Nanosecond)
			if tc.alive(m) {
				t.Fatal("still there at its TTL")
			}
		})
	}
}

func TestMemoryRemovesAnExpiredKeyWhenItIsRead(t *testing.T) {
	m, clock := newMemoryWithClock()
	if err := m.Set(t.Context(), "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if _, err := m.Get(t.Context(), "k"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
	if n := m.Len(); n != 0 {
		t.Fatalf("Len after reading the expired key = %d, want 0", n)
	}
}

func TestMemorySweepsExpiredKeysThatAreNeverReadAgain(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name    string
		expired int // keys written with a short TTL, never read again
		writes  int // later writes of other keys
	}{
		{"a few, then writes to any keys", 10, 1_000},
		{"many more expired keys than later writes", 20_000, 2_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, clock := newMemoryWithClock()
			for i := range tc.expired {
				if err := m.Set(ctx, fmt.Sprint("old-", i), []byte("v"), time.Second); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(time.Minute)
			for i := range tc.writes {
				if _, err := m.Incr(ctx, fmt.Sprint("new-", i), time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			if n := m.Len(); n != tc.writes {
				t.Fatalf("Len = %d, want %d: the %d expired keys should have been swept by later writes", n, tc.writes, tc.expired)
			}
		})
	}
}

func TestMemoryKeepsTheLaterExpiryWhenAKeyIsRewritten(t *testing.T) {
	ctx := t.Context()
	m, clock := newMemoryWithClock()
	if err := m.Set(ctx, "k", []byte("short"), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "k", []byte("long"), time.Hour); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	// A write sweeps; it must not take "k" by its first, stale expiry.
	if err := m.Set(ctx, "other", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := m.Get(ctx, "k")
	if err != nil || string(got) != "long" {
		t.Fatalf("Get = %q, %v; want long", got, err)
	}
}

// TestMemoryBytesPerEntry reports what an entry costs in memory. It asserts
// only a generous ceiling, to catch a gross regression, not to time anything.
func TestMemoryBytesPerEntry(t *testing.T) {
	const n = 100_000
	keys := make([]string, n) // made before measuring: callers own their keys
	for i := range keys {
		keys[i] = fmt.Sprintf("rev:%012d", i)
	}
	value := []byte("0123456789abcdef")

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := session.NewMemory()
	for _, k := range keys {
		if err := m.Set(t.Context(), k, value, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)

	if m.Len() != n {
		t.Fatalf("Len = %d, want %d", m.Len(), n)
	}
	perEntry := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d entries (16-byte keys, 16-byte values): %.0f bytes per entry", n, perEntry)
	if perEntry > 1024 {
		t.Errorf("%.0f bytes per entry, want well under 1 KiB", perEntry)
	}
	runtime.KeepAlive(m)
}

func BenchmarkMemoryGet(b *testing.B) {
	m := session.NewMemory()
	ctx := b.Context()
	for i := range 10_000 {
		if err := m.Set(ctx, fmt.Sprintf("phone:%d", i), []byte(`{"phone":"+8613800138000"}`), time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		key  string
		want error
	}{
		{"present", "phone:4242", nil},
		{"absent", "revoked:jti-not-there", session.ErrNotFound},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Get(ctx, bc.key); err != bc.want {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+" parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.Get(ctx, bc.key); err != bc.want {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
