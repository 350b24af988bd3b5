package auth

import (
	"context"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/fakeclock"
	"github.com/wxauth/caddy-wxauth/session"
)

func newLimiter(limit int) (*LoginLimiter, *fakeclock.Clock) {
	clock := fakeclock.New(time.Now())
	mem := session.NewMemory()
	mem.Now = clock.Now
	return &LoginLimiter{Store: mem, KeyPrefix: "wxauth:", Limit: limit, Window: time.Minute}, clock
}

func TestTheLoginLimitCountsPerClientAddressAndWindow(t *testing.T) {
	l, clock := newLimiter(2)
	ctx := context.Background()
	for i := range 2 {
		if err := l.Allow(ctx, "192.0.2.1"); err != nil {
			t.Fatalf("login %d from 192.0.2.1: %v", i+1, err)
		}
	}
	wantCode(t, l.Allow(ctx, "192.0.2.1"), CodeRateLimited)
	if err := l.Allow(ctx, "198.51.100.7"); err != nil {
		t.Fatalf("a login from another address: %v", err)
	}
	clock.Advance(time.Minute + time.Second)
	if err := l.Allow(ctx, "192.0.2.1"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestTheLoginLimitCountsAnIPv6ClientByItsSlash64(t *testing.T) {
	for _, tc := range []struct{ ip, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an ip", "not an ip"},
	} {
		if got := rateLimitedAddress(tc.ip); got != tc.want {
			t.Errorf("rateLimitedAddress(%q) = %q, want %q", tc.ip, got, tc.want)
		}
	}
	l, _ := newLimiter(2)
	ctx := context.Background()
	for i, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		if err := l.Allow(ctx, ip); err != nil {
			t.Fatalf("login %d: %v", i+1, err)
		}
	}
	wantCode(t, l.Allow(ctx, "2001:db8:1:2:ffff::3"), CodeRateLimited)
	if err := l.Allow(ctx, "2001:db8:1:3::1"); err != nil {
		t.Fatalf("a login from the next /64: %v", err)
	}
}
