package auth

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzCheckReturnTo: whatever a client sends as return_to, what is accepted
// resolves, as a browser resolves a Location header, to this site.
func FuzzCheckReturnTo(f *testing.F) {
	for _, seed := range []string{"", "/", "/orders?id=7", "//evil.example", "/\\evil.example", "/\t/evil.example",
		"https://evil.example", "/%2F%2Fevil.example", "/..//evil.example", "/a?next=//evil.example", "/路径#x", "/@evil.example"} {
		f.Add(seed)
	}
	here, _ := url.Parse("https://h5.example/wx/oauth/callback?code=c&state=s")
	f.Fuzz(func(t *testing.T, returnTo string) {
		got, err := CheckReturnTo(returnTo)
		if err != nil {
			return
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t\x00") {
			t.Fatalf("CheckReturnTo(%q) = %q", returnTo, got)
		}
		ref, err := url.Parse(got)
		if err != nil {
			t.Fatalf("CheckReturnTo(%q) = %q, which does not parse: %v", returnTo, got, err)
		}
		if to := here.ResolveReference(ref); to.Host != here.Host || to.Scheme != here.Scheme {
			t.Fatalf("CheckReturnTo(%q) = %q leads to %s", returnTo, got, to)
		}
	})
}

// FuzzFinishWebLoginState: a state check accepts only a cookie exactly as
// StartWebLogin signs it (this account's key; each fuzzing process mints
// its own, so the seeds are the only cookies known to be valid) and nothing
// panics on the way.
func FuzzFinishWebLoginState(f *testing.F) {
	r := newRig(f, rigOptions{})
	start, err := r.svc.StartWebLogin("/orders")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(start.Cookie, start.State)
	f.Add(start.Cookie+".", start.State)
	f.Add(strings.Replace(start.Cookie, "v1.", "v2.", 1), start.State)
	f.Add("v1.."+start.State+"...", start.State)
	f.Fuzz(func(t *testing.T, cookie, state string) {
		returnTo, expiry, err := r.svc.checkState(cookie, state)
		if err != nil {
			return
		}
		signed := strings.Join([]string{"v1", testAppID, state, strconv.FormatInt(expiry.Unix(), 10), base64.RawURLEncoding.EncodeToString([]byte(returnTo))}, ".")
		if cookie != signed+"."+r.svc.stateSignature(signed) {
			t.Fatalf("checkState(%q, %q) accepted a cookie in another spelling than its own", cookie, state)
		}
	})
}
