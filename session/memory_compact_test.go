package session

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"testing"
	"time"
	"unsafe"
)

func TestMemoryEntryFillsA64ByteSizeClass(t *testing.T) {
	if got := unsafe.Sizeof(memoryEntry{}); got != 64 {
		t.Errorf("unsafe.Sizeof(memoryEntry{}) = %d, want 64: one per key, so growth costs a size class at every key", got)
	}
}

func TestMemoryListEncodingKeepsItemsWhole(t *testing.T) {
	ctx := t.Context()
	// Lengths either side of each uvarint width, and an empty item.
	lengths := []int{0, 1, 127, 128, 16383, 16384, 70000}
	for _, keep := range []int{1, 2, 4, len(lengths), math.MaxInt} {
		t.Run(fmt.Sprintf("keep %d", keep), func(t *testing.T) {
			m := NewMemory()
			var pushed [][]byte
			for i, n := range lengths {
				item := bytes.Repeat([]byte{byte('a' + i)}, n)
				if err := m.Push(ctx, "l", item, keep, time.Hour); err != nil {
					t.Fatalf("Push(%d bytes): %v", n, err)
				}
				pushed = append([][]byte{item}, pushed...)
			}
			want := pushed[:min(keep, len(pushed))]
			got, err := m.List(ctx, "l")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("List holds %d items, want %d", len(got), len(want))
			}
			size := 0
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("item %d: %d bytes of %q, want %d bytes", i, len(got[i]), got[i][:min(len(got[i]), 1)], len(want[i]))
				}
				size += len(want[i])
			}

			// Trimmed items are gone from the encoding, not just skipped.
			e := m.shard("l").entries["l"]
			headers := 0
			for _, w := range want {
				headers += len(binary.AppendUvarint(nil, uint64(len(w))))
			}
			if len(e.val) != size+headers || cap(e.val) != len(e.val) {
				t.Errorf("encoding len %d cap %d, want both %d", len(e.val), cap(e.val), size+headers)
			}
		})
	}
}

func TestMemoryListItemsDoNotShareSpareCapacity(t *testing.T) {
	ctx := t.Context()
	m := NewMemory()
	for _, v := range []string{"older", "newer"} {
		if err := m.Push(ctx, "l", []byte(v), 3, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	got, err := m.List(ctx, "l")
	if err != nil {
		t.Fatal(err)
	}
	_ = append(got[0], "XXXXX"...) // must reallocate, not overwrite got[1]
	if string(got[1]) != "older" {
		t.Fatalf("second item after appending to the first = %q, want older", got[1])
	}
}

func BenchmarkMemoryPushList(b *testing.B) {
	ctx := b.Context()
	m := NewMemory()
	sealed := bytes.Repeat([]byte("s"), 52) // a sealed session_key
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("session-keys:%d", i)
		if err := m.Push(ctx, keys[i], sealed, 3, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("push", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := m.Push(ctx, keys[i%len(keys)], sealed, 3, time.Hour); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("list of 3", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if l, err := m.List(ctx, keys[4242]); err != nil || len(l) != 3 {
				b.Fatal(len(l), err)
			}
		}
	})
}
