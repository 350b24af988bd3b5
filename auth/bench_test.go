package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/forgery"
	"github.com/wxauth/caddy-wxauth/session"
	"github.com/wxauth/caddy-wxauth/token"
	"github.com/wxauth/caddy-wxauth/wechat"
)

// benchService is a Service over a memory store with generated signing keys,
// as Caddy provisions it by default. Verify never calls WeChat, so the client
// points nowhere.
func benchService(b *testing.B) *Service {
	b.Helper()
	ctx := context.Background()
	store := session.NewMemory()
	const appID, prefix = "wx0123456789abcdef", "wxauth:wx0123456789abcdef:"
	tokens, err := token.New(ctx, token.Config{
		AppID: appID, TTL: 2 * time.Hour, Store: store, KeyPrefix: prefix,
	})
	if err != nil {
		b.Fatal(err)
	}
	seal, err := DeriveSealKey("bench-secret")
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{
		AppID:     appID,
		WeChat:    &wechat.Client{AppID: appID, AppSecret: "bench-secret", BaseURL: "http://127.0.0.1:1"},
		Tokens:    tokens,
		Store:     store,
		KeyPrefix: prefix,
		SealKey:   seal,
		TokenTTL:  2 * time.Hour,
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchToken(b *testing.B, s *Service, openid string) string {
	b.Helper()
	raw, _, err := s.cfg.Tokens.Issue(context.Background(), openid)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkVerifyCached is the hot path of every authenticated request: a
// token seen before, answered from the verified-token cache (the store is
// re-read once per CacheTTL, 2s, which is noise here).
func BenchmarkVerifyCached(b *testing.B) {
	s := benchService(b)
	raw := benchToken(b, s, "o-bench-user-0123456789abcdef")
	ctx := context.Background()
	if _, err := s.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCold is a token this instance has not seen (first request
// after a login on another instance, or after eviction): signature check,
// three store reads (revocation, unionid, phone) and a cache insert. The
// entry is removed again after each iteration, which costs one map delete.
func BenchmarkVerifyCold(b *testing.B) {
	s := benchService(b)
	raw := benchToken(b, s, "o-bench-user-0123456789abcdef")
	key := sha256.Sum256([]byte(raw))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
		s.cache.remove(key)
	}
}

// BenchmarkVerifyForged is the attack path: genuine tokens whose payload
// names another user, a different one on every request. Their kid names a
// real key, so each is refused only by the signature check. The pool is
// larger than the cache of refused tokens, so none is answered from it.
func BenchmarkVerifyForged(b *testing.B) {
	s := benchService(b)
	forged := forgeSubject(b, benchToken(b, s, "o-bench-user-0123456789abcdef"))
	benchRefused(b, s, forgery.Variants(forged, 1<<15))
}

// BenchmarkVerifyForgedReplayed is one forged token sent again and again,
// answered from the cache of refused tokens after the first time.
func BenchmarkVerifyForgedReplayed(b *testing.B) {
	s := benchService(b)
	benchRefused(b, s, []string{forgeSubject(b, benchToken(b, s, "o-bench-user-0123456789abcdef"))})
}

// BenchmarkVerifyGarbage is a Bearer value that is not a JWS at all, a new
// one on every request.
func BenchmarkVerifyGarbage(b *testing.B) {
	benchRefused(b, benchService(b), forgery.Variants(strings.Repeat("x", 426), 1<<15))
}

func benchRefused(b *testing.B, s *Service, raws []string) {
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		_, err := s.Verify(ctx, raws[i%len(raws)])
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeUnauthorized {
			b.Fatalf("Verify(forged) = %v, want %s", err, CodeUnauthorized)
		}
		i++
	}
}

// forgeSubject swaps one character of the payload: still valid base64url
// and JSON-shaped, but the signature no longer matches.
func forgeSubject(b *testing.B, raw string) string {
	b.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		b.Fatalf("not a compact JWS: %q", raw)
	}
	p := []byte(parts[1])
	i := len(p) / 2
	if p[i] == 'A' {
		p[i] = 'B'
	} else {
		p[i] = 'A'
	}
	parts[1] = string(p)
	return strings.Join(parts, ".")
}
