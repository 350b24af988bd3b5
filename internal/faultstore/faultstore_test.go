package faultstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/faultstore"
	"github.com/wxauth/caddy-wxauth/session"
	"github.com/wxauth/caddy-wxauth/session/storetest"
)

// TestStoreHonoursTheContractWhenLeftAlone: wrapped, the memory store still
// passes the one store contract.
func TestStoreHonoursTheContractWhenLeftAlone(t *testing.T) {
	storetest.Run(t, func(*testing.T) session.Store { return faultstore.Memory(nil) })
}

func TestStoreMisbehavesOnDemand(t *testing.T) {
	ctx := context.Background()
	down := errors.New("down")

	t.Run("Fail fails the named operations only, and nil heals them", func(t *testing.T) {
		s := faultstore.Memory(nil)
		s.Fail(down, faultstore.Get)
		if _, err := s.Get(ctx, "k"); !errors.Is(err, down) {
			t.Fatalf("Get = %v; want %v", err, down)
		}
		if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
			t.Fatalf("Set = %v; want it to work", err)
		}
		s.Fail(nil, faultstore.Get)
		if v, err := s.Get(ctx, "k"); err != nil || string(v) != "v" {
			t.Fatalf("Get after healing = %q, %v", v, err)
		}
	})

	t.Run("Wipe loses every key", func(t *testing.T) {
		s := faultstore.Memory(nil)
		if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
		s.Wipe()
		if _, err := s.Get(ctx, "k"); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("Get after Wipe = %v; want ErrNotFound", err)
		}
	})

	t.Run("a hook runs with the call's context and its error fails the call", func(t *testing.T) {
		s := faultstore.Memory(nil)
		type key struct{}
		var seen any
		s.Hook(faultstore.SetNX, func(ctx context.Context) error {
			seen = ctx.Value(key{})
			return down
		})
		if _, err := s.SetNX(context.WithValue(ctx, key{}, "mine"), "k", []byte("v"), time.Minute); !errors.Is(err, down) || seen != "mine" {
			t.Fatalf("SetNX = %v with context value %v; want %v and \"mine\"", err, seen, down)
		}
		s.Hook(faultstore.SetNX, nil)
		if won, err := s.SetNX(ctx, "k", []byte("v"), time.Minute); !won || err != nil {
			t.Fatalf("SetNX without the hook = %v, %v", won, err)
		}
	})

	t.Run("Fail with no operation fails every one, CompareAndDelete included", func(t *testing.T) {
		s := faultstore.Memory(nil)
		if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
		s.Fail(down)
		if ok, err := s.CompareAndDelete(ctx, "k", []byte("v")); ok || !errors.Is(err, down) {
			t.Fatalf("CompareAndDelete = %v, %v; want false, %v", ok, err, down)
		}
		s.Fail(nil)
		if ok, err := s.CompareAndDelete(ctx, "k", []byte("v")); !ok || err != nil {
			t.Fatalf("CompareAndDelete after healing = %v, %v; want true (the failed call reached nothing)", ok, err)
		}
		if got := s.Calls(faultstore.CompareAndDelete); got != 2 {
			t.Errorf("Calls(CompareAndDelete) = %d; want 2", got)
		}
	})

	t.Run("GetMulti is counted, failed and hooked like the others", func(t *testing.T) {
		s := faultstore.Memory(nil)
		if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
		hooked := 0
		s.Hook(faultstore.GetMulti, func(context.Context) error { hooked++; return nil })
		if got, err := s.GetMulti(ctx, "k", "absent"); err != nil || len(got) != 2 || string(got[0]) != "v" || got[1] != nil {
			t.Fatalf("GetMulti = %q, %v; want [v nil]", got, err)
		}
		s.Fail(down, faultstore.GetMulti)
		if _, err := s.GetMulti(ctx, "k"); !errors.Is(err, down) {
			t.Fatalf("GetMulti with a failure set = %v; want %v", err, down)
		}
		if _, err := s.Get(ctx, "k"); err != nil {
			t.Fatalf("Get = %v; want it untouched by GetMulti's failure", err)
		}
		if n := s.Calls(faultstore.GetMulti); n != 2 || hooked != 2 {
			t.Fatalf("Calls(GetMulti) = %d, hook ran %d times; want 2 and 2", n, hooked)
		}
	})

	t.Run("Calls counts failed calls too, by operation", func(t *testing.T) {
		s := faultstore.Memory(nil)
		s.Fail(down, faultstore.List)
		s.Get(ctx, "a")
		s.Get(ctx, "b")
		s.List(ctx, "c")
		if got := s.Calls(faultstore.Get); got != 2 {
			t.Errorf("Calls(Get) = %d; want 2", got)
		}
		if got := s.Calls(); got != 3 {
			t.Errorf("Calls() = %d; want 3", got)
		}
	})
}
