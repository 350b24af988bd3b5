package auth

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/wxauth/caddy-wxauth/session"
)

// LoginLimiter allows Limit logins per client address per Window. The count
// lives in Store, so instances sharing it share the budget.
type LoginLimiter struct {
	Store session.Store
	// KeyPrefix namespaces the counters, e.g. "wxauth:".
	KeyPrefix string
	Limit     int
	Window    time.Duration
}

// Allow counts a login from clientIP, or refuses it with CodeRateLimited.
func (l *LoginLimiter) Allow(ctx context.Context, clientIP string) error {
	if l.Limit <= 0 || l.Window <= 0 {
		return errors.New("auth: a LoginLimiter needs a positive Limit and Window")
	}
	n, err := l.Store.Incr(ctx, l.KeyPrefix+"login-rate:"+digest(rateLimitedAddress(clientIP)), l.Window)
	if err != nil {
		return storeError("count logins", err)
	}
	if n > int64(l.Limit) {
		return newError(CodeRateLimited, "too many logins from this address, retry later", nil)
	}
	return nil
}

// rateLimitedAddress is what the login rate limit counts: the client's IPv4
// address, or its IPv6 /64 — one end site's network, in which a client
// picks any address it likes.
func rateLimitedAddress(clientIP string) string {
	addr, err := netip.ParseAddr(clientIP)
	if err != nil {
		return clientIP
	}
	addr = addr.WithZone("").Unmap()
	if addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
}
