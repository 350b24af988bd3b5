package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/wxauth/caddy-wxauth/internal/forgery"
	"github.com/wxauth/caddy-wxauth/wxmock"
)

// benchWriter is a ResponseWriter that keeps nothing, so a benchmark
// measures the handler and not a recorder's buffers.
type benchWriter struct{ h http.Header }

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(int)             {}

// noopNext stands in for reverse_proxy.
var noopNext = caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })

// provisionHandler provisions a Handler with the memory store against an
// in-process wxmock made from cfg, as Caddy would.
func provisionHandler(tb testing.TB, cfg wxmock.Config) (*Handler, *wxmock.Server) {
	tb.Helper()
	mock := wxmock.New(cfg)
	srv := httptest.NewServer(mock)
	tb.Cleanup(srv.Close)

	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	tb.Cleanup(cancel)
	app := new(App)
	if err := app.Provision(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { app.Cleanup() })
	h := &Handler{AppID: cfg.AppID, AppSecret: cfg.AppSecret, Settings: Settings{APIBase: srv.URL}, app: app}
	if err := h.Provision(ctx); err != nil {
		tb.Fatal(err)
	}
	// Caddy's logger at its default level; NewContext without a config hands
	// out a development logger that would print every refusal at Debug.
	h.logger = zap.NewNop()
	return h, mock
}

// benchHandler provisions a Handler and logs one user in through the real
// login endpoint. It returns the handler and the user's token.
func benchHandler(b *testing.B) (*Handler, string) {
	b.Helper()
	h, mock := provisionHandler(b, wxmock.Config{AppID: "wx0123456789abcdef", AppSecret: "bench-app-secret", UnionID: true})
	body := `{"code":"` + mock.Code("alice") + `"}`
	r := httptest.NewRequest(http.MethodPost, "/wx/login", strings.NewReader(body))
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	r.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	if err := h.ServeHTTP(rec, r, noopNext); err != nil || rec.Code != http.StatusOK {
		b.Fatalf("login: %v %d %s", err, rec.Code, rec.Body)
	}
	var login struct{ Token string }
	if err := json.Unmarshal(rec.Body.Bytes(), &login); err != nil || login.Token == "" {
		b.Fatalf("login: no token in %s", rec.Body)
	}
	return h, login.Token
}

// benchRequest is a GET as Caddy hands it to a handler: a replacer in the
// context and the headers a mini program sends.
func benchRequest(method, path, token string) *http.Request {
	r := httptest.NewRequest(method, path, nil)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	r.Header.Set("Accept", "*/*")
	r.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.47")
	r.Header.Set("Referer", "https://servicewechat.com/wx0123456789abcdef/0/page-frame.html")
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// BenchmarkServeHTTPVerified is what wxauth adds to every authenticated
// request in front of reverse_proxy: strip, verify a cached token, inject
// the headers and placeholders. The request is reused; the headers injected
// by one iteration are removed by the next one's strip, as a client's
// forged ones would be.
func BenchmarkServeHTTPVerified(b *testing.B) {
	h, token := benchHandler(b)
	r := benchRequest(http.MethodGet, "/api/orders", token)
	w := &benchWriter{h: http.Header{}}
	if err := h.ServeHTTP(w, r, noopNext); err != nil || r.Header.Get(headerOpenID) == "" {
		b.Fatalf("not verified: %v, headers %v", err, r.Header)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := h.ServeHTTP(w, r, noopNext); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeHTTPForged is the attack path: a genuine token with its
// payload changed, and its signature changed on every request so that no
// two are alike (as an attacker's forgeries would be), each refused with 401
// after the signature check.
func BenchmarkServeHTTPForged(b *testing.B) {
	h, token := benchHandler(b)
	benchForged(b, h, forgery.Variants(forgePayload(token), 1<<15))
}

// BenchmarkServeHTTPForgedReplayed is one forged token sent again and
// again: refused from memory after the first signature check.
func BenchmarkServeHTTPForgedReplayed(b *testing.B) {
	h, token := benchHandler(b)
	benchForged(b, h, []string{forgePayload(token)})
}

func benchForged(b *testing.B, h *Handler, tokens []string) {
	r := benchRequest(http.MethodGet, "/api/orders", "")
	values := make([][]string, len(tokens))
	for i, t := range tokens {
		values[i] = []string{"Bearer " + t}
	}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		b.Fatal("a forged token reached the next handler")
		return nil
	})
	w := &benchWriter{h: http.Header{}}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		r.Header["Authorization"] = values[i%len(values)]
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// forgePayload changes one character of the token's payload.
func forgePayload(token string) string {
	parts := strings.Split(token, ".")
	p := []byte(parts[1])
	if p[len(p)/2] == 'A' {
		p[len(p)/2] = 'B'
	} else {
		p[len(p)/2] = 'A'
	}
	parts[1] = string(p)
	return strings.Join(parts, ".")
}

// BenchmarkServeHTTPNoToken is a request without Authorization: the
// cheapest refusal.
func BenchmarkServeHTTPNoToken(b *testing.B) {
	h, _ := benchHandler(b)
	r := benchRequest(http.MethodGet, "/api/orders", "")
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		if err := h.ServeHTTP(w, r, noopNext); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeHTTPVerifiedH5 is BenchmarkServeHTTPVerified for an H5
// user, on a handler serving an official account, a website and a mini
// program: the token in the Authorization header, and in the login cookie
// (a GET, so no Origin check), to compare the two in one run.
func BenchmarkServeHTTPVerifiedH5(b *testing.B) {
	x := newH5Rig(b, nil)
	login := x.loggedIn(b)
	for _, via := range []string{"bearer", "cookie"} {
		b.Run(via, func(b *testing.B) {
			r := benchRequest(http.MethodGet, "/api/orders", "")
			if via == "bearer" {
				r.Header.Set("Authorization", "Bearer "+login.Value)
			} else {
				r.AddCookie(login)
			}
			w := &benchWriter{h: http.Header{}}
			if err := x.h.ServeHTTP(w, r, noopNext); err != nil || r.Header.Get(headerOpenID) == "" {
				b.Fatalf("not verified: %v, headers %v", err, r.Header)
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				if err := x.h.ServeHTTP(w, r, noopNext); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkServeHTTPVerifiedManyUsers is BenchmarkServeHTTPVerified with
// each request the next of many users' tokens (bench/run.sh's scenario U
// without the network): what many distinct cached tokens cost over one.
func BenchmarkServeHTTPVerifiedManyUsers(b *testing.B) {
	h, mock := provisionHandler(b, wxmock.Config{AppID: "wx0123456789abcdef", AppSecret: "bench-app-secret", UnionID: true})
	tokens := make([]string, 20_000)
	for i := range tokens {
		r := benchRequest(http.MethodPost, "/wx/login", "")
		r.Body = io.NopCloser(strings.NewReader(`{"code":"` + mock.Code(fmt.Sprintf("user%d", i)) + `"}`))
		rec := httptest.NewRecorder()
		if err := h.ServeHTTP(rec, r, noopNext); err != nil || rec.Code != http.StatusOK {
			b.Fatalf("login %d: %v %d %s", i, err, rec.Code, rec.Body)
		}
		var login struct{ Token string }
		json.Unmarshal(rec.Body.Bytes(), &login)
		tokens[i] = login.Token
	}
	for _, users := range []int{1, 20_000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			r := benchRequest(http.MethodGet, "/api/orders", "")
			values := make([][]string, users)
			for i := range values {
				values[i] = []string{"Bearer " + tokens[i]}
				r.Header["Authorization"] = values[i]
				if err := h.ServeHTTP(&benchWriter{h: http.Header{}}, r, noopNext); err != nil || r.Header.Get(headerOpenID) == "" {
					b.Fatalf("user %d not verified: %v", i, err)
				}
			}
			w := &benchWriter{h: http.Header{}}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				r.Header["Authorization"] = values[i%users]
				if err := h.ServeHTTP(w, r, noopNext); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
