package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// matcher is a provisioned MatchPath, as Provision makes it.
func matcher(t testing.TB, paths ...string) caddyhttp.MatchPath {
	t.Helper()
	m := caddyhttp.MatchPath(paths)
	if err := m.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAPathAnUpstreamMayReadAsAnotherIsPublicOnlyIfEveryReadingIs(t *testing.T) {
	public := matcher(t, "/static/*", "/health")
	for _, tc := range []struct {
		target string
		public bool
	}{
		{"/static/app.js", true},
		{"/health", true},
		{"/api/x", false},
		{"/static/..;/api/x", false},               // Tomcat, Spring
		{"/static/..\\api\\x", false},              // IIS
		{"/static/%2e%2e%5capi", false},            // IIS, encoded
		{"/static/%252e%252e/api/x", false},        // decoded twice
		{"/static/..%00/api", false},               // NUL
		{"/static/a;v=1.js", true},                 // a ; that stays under /static/
		{"/static/100%25.png", true},               // a % that stays under /static/
		{"/static/x%00/../../api", false},          // C string stops at NUL
		{"/static/%25252e%25252e/api/x", true},     // three decodings: no upstream does
		{"/static/sub/..%3b/..%3b/api/x", false},   // ; sent encoded
		{"/static/%5c..%5c..%5capi%5cx", false},    // every \ encoded
		{"/static/..%5c..%5c/static/app.js", true}, // every reading resolves under /static/
	} {
		t.Run(tc.target, func(t *testing.T) {
			r := request(t, tc.target)
			if got := everyReadingMatches(public, r); got != tc.public {
				t.Fatalf("public = %v, want %v (readings %q)", got, tc.public, pathReadings(r.URL.Path))
			}
		})
	}
}

func TestAPathAnUpstreamMayReadAsARequirePhonePathRequiresAPhone(t *testing.T) {
	vip := matcher(t, "/vip/*")
	for _, tc := range []struct {
		target string
		phone  bool
	}{
		{"/vip/offers", true},
		{"/shop/offers", false},
		{"/vip;/offers", true},
		{"/vip%5coffers", true},
		{"/vip%00/offers", true},
		{"/vip%3b/offers", true},
		{"/shop/..;/vip/offers", true},
		{"/shop%2f..%2fvip/offers", true},
		{"/shop;x/offers", false},
		{"/vip/../x", true},
		{"/vip%252foffers%25", true},
		{"/shop/./offers", false},
	} {
		t.Run(tc.target, func(t *testing.T) {
			r := request(t, tc.target)
			if got := someReadingMatches(vip, r); got != tc.phone {
				t.Fatalf("phone required = %v, want %v (readings %q)", got, tc.phone, pathReadings(r.URL.Path))
			}
		})
	}
}

func TestALongAmbiguousPathIsJudgedProtectedWithoutReadingItEveryWay(t *testing.T) {
	public, vip := matcher(t, "/static/*"), matcher(t, "/vip/*")
	long := request(t, "/static/"+strings.Repeat("a;", maxJudgedPath))
	if everyReadingMatches(public, long) || !someReadingMatches(vip, long) {
		t.Fatal("a long ambiguous path was judged public, or free of require_phone")
	}
	short := request(t, "/static/a;b")
	if !everyReadingMatches(public, short) {
		t.Fatal("a short path with a ; that stays under /static/ lost its public status")
	}
}

func TestDecodeLenientlyKeepsBadEscapesAndDecodesTheRest(t *testing.T) {
	for in, want := range map[string]string{
		"/a%2e%2E/b": "/a../b", "/x%zz%41": "/x%zzA", "/tail%": "/tail%", "/tail%4": "/tail%4", "": "",
	} {
		if got := decodeLeniently(in); got != want {
			t.Errorf("decodeLeniently(%q) = %q, want %q", in, got, want)
		}
	}
}

// request is a GET of target as Go's server parses it for Caddy.
func request(t *testing.T, target string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	return r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
}

func FuzzPathReadings(f *testing.F) {
	for _, seed := range []string{"/static/..;/api/x", "/static/%252e%252e/api/x%25zz", "/vip%00/offers", `/a\b`, "/api/../static/x", "//x//y", "/", "/%", "/;;;"} {
		f.Add(seed)
	}
	public, vip := matcher(f, "/static/*"), matcher(f, "/vip/*")
	f.Fuzz(func(t *testing.T, target string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
		r.URL.Path = "/" + target
		readings := pathReadings(r.URL.Path)
		if readings[0] != r.URL.Path {
			t.Fatalf("the first reading %q is not the path %q", readings[0], r.URL.Path)
		}
		if len(readings) > 2<<len(readingSteps) { // the path, and two per set of steps
			t.Fatalf("%d readings", len(readings))
		}
		// Public for every reading implies matching the path as it is; a
		// path that needs a phone as it is needs one under some reading.
		if everyReadingMatches(public, r) && !public.Match(r) {
			t.Fatalf("%q is public though it does not match as it is", r.URL.Path)
		}
		if vip.Match(r) && !someReadingMatches(vip, r) {
			t.Fatalf("%q escapes require_phone though it matches as it is", r.URL.Path)
		}
	})
}
