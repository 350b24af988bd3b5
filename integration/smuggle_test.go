package integration

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/wxauth/caddy-wxauth/wxmock"
)

// This file tries to get a forged identity past wxauth to the upstream by
// every trick of HTTP/1.1 and HTTP/2 framing we know: spellings, repetition,
// hop-by-hop names, line breaks, pipelining, trailers and tokens in odd
// places. Each case asserts what the upstream received, header by header.

// identity is what the upstream should see in the four identity headers; an
// empty field means the header must be absent.
type identity struct {
	OpenID, UnionID, Phone, CountryCode string
}

// identityNames are the identity headers wxauth sets (the README's "What the
// upstream receives"), spelt as wxauth sets them.
var identityNames = []string{"X-OpenID", "X-UnionID", "X-Phone", "X-Phone-Country-Code"}

func (id identity) value(name string) string {
	switch name {
	case "X-OpenID":
		return id.OpenID
	case "X-UnionID":
		return id.UnionID
	case "X-Phone":
		return id.Phone
	default:
		return id.CountryCode
	}
}

// identityName returns the identity header name spells, compared
// case-insensitively with '_' as '-', or "".
func identityName(name string) string {
	for _, id := range identityNames {
		if strings.EqualFold(strings.ReplaceAll(name, "_", "-"), id) {
			return id
		}
	}
	return ""
}

// smuggleWorld is a world speaking h1 and h2c whose upstream also records
// request trailers, with users whose identity is known in full.
type smuggleWorld struct {
	*world
	alice    identity // phone and unionid bound
	bob      identity // openid only
	aliceTok string
	bobTok   string
}

func newSmuggleWorld(t *testing.T) *smuggleWorld {
	t.Helper()
	w := &world{mock: wxmock.New(wxmock.Config{AppID: testAppID, AppSecret: testSecret})}
	w.wechat = httptest.NewServer(w.mock)
	t.Cleanup(w.wechat.Close)
	w.upstream = newTrailerRecordingUpstream(t)
	w.caddy = startCaddy(t, siteConfig{
		WeChatURL: w.wechat.URL,
		Upstream:  strings.TrimPrefix(w.upstream.URL, "http://"),
		Global:    "servers {\n\t\tprotocols h1 h2c\n\t}",
	})
	s := &smuggleWorld{world: w}
	s.aliceTok = w.login(t, "alice")
	s.alice = s.bindEverything(t, s.aliceTok, "alice", "13800138000")
	s.bobTok = w.login(t, "bob")
	s.bob = identity{OpenID: w.mock.OpenID("bob")}
	return s
}

// bindEverything binds a phone and (through /wx/profile) a unionid to user,
// so that all four identity headers are set on their requests.
func (s *smuggleWorld) bindEverything(t *testing.T, tok, user, phone string) identity {
	t.Helper()
	r := postJSON(t, s.caddy.URL+"/wx/phone", tok, map[string]string{"code": s.mock.PhoneCode(user, phone)})
	if r.Status != http.StatusOK {
		t.Fatalf("binding %s's phone: %d %s", user, r.Status, r.Body)
	}
	p := r.JSON(t)
	raw, sig, data, iv, err := s.mock.EncryptedProfile(user)
	if err != nil {
		t.Fatal(err)
	}
	r = postJSON(t, s.caddy.URL+"/wx/profile", tok, map[string]string{"raw_data": raw, "signature": sig, "encrypted_data": data, "iv": iv})
	if r.Status != http.StatusOK {
		t.Fatalf("%s's profile: %d %s", user, r.Status, r.Body)
	}
	id := identity{OpenID: s.mock.OpenID(user), UnionID: s.mock.UnionID(user)}
	id.Phone, _ = p["phone_number"].(string)
	id.CountryCode, _ = p["country_code"].(string)
	if id.Phone == "" || id.CountryCode == "" || id.UnionID == "" {
		t.Fatalf("%s's identity is incomplete: %+v", user, id)
	}
	return id
}

// newTrailerRecordingUpstream is the harness's recording upstream, except
// that it reads the body and records request trailers as if they were
// headers, as a careless upstream framework might merge them.
func newTrailerRecordingUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		h := r.Header.Clone()
		for name, values := range r.Trailer {
			for _, v := range values {
				h.Add(name, v)
			}
		}
		u.mu.Lock()
		u.seen = append(u.seen, h)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path})
	}))
	t.Cleanup(u.Close)
	return u
}

func postJSON(t testing.TB, url, tok string, v any) response {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, "POST", url, tok, string(b))
}

// outcome is what a smuggling attempt may lead to.
type outcome int

const (
	// passes: 200 and the upstream gets exactly one request, with exactly
	// the expected identity.
	passes outcome = iota
	// refused: 401 unauthorized and the upstream is not contacted.
	refused
	// phoneRequired: 403 phone_required and the upstream is not contacted.
	phoneRequired
	// passesOrRejected: Caddy's HTTP layer may refuse a malformed request
	// (HTTP/1 400, an HTTP/2 stream or connection error) without contacting
	// the upstream; if it does not, the request must pass as for passes.
	passesOrRejected
)

// exchange is a finished attempt, over either protocol.
type exchange struct {
	Status int    // 0 when HTTP/2 reset the stream or the connection
	Reset  string // the HTTP/2 error code, when reset
	Body   []byte
}

// checkOutcome asserts want for an exchange the upstream had seen before
// requests of.
func checkOutcome(t *testing.T, u *upstream, before int, x exchange, want outcome, as identity) {
	t.Helper()
	after := u.requests()
	switch {
	case want == refused || want == phoneRequired:
		status, code := http.StatusUnauthorized, "unauthorized"
		if want == phoneRequired {
			status, code = http.StatusForbidden, "phone_required"
		}
		if x.Status != status || !bytes.Contains(x.Body, []byte(`"`+code+`"`)) {
			t.Fatalf("status %d (reset %q), want %d %s; body %s", x.Status, x.Reset, status, code, x.Body)
		}
		if len(after) != before {
			t.Fatalf("upstream was contacted: %v", after[before:])
		}
	case want == passesOrRejected && (x.Status == 0 || x.Status == http.StatusBadRequest && !bytes.Contains(x.Body, []byte(`"error"`))):
		if len(after) != before {
			t.Fatalf("the request was rejected (status %d, reset %q) yet upstream got %v", x.Status, x.Reset, after[before:])
		}
		t.Logf("Caddy rejected the request: status %d, reset %q", x.Status, x.Reset)
	default:
		if x.Status != http.StatusOK {
			t.Fatalf("status %d (reset %q), want 200; body %s", x.Status, x.Reset, x.Body)
		}
		if len(after) != before+1 {
			t.Fatalf("upstream got %d requests, want 1", len(after)-before)
		}
		assertIdentity(t, after[before], as)
	}
}

// assertIdentity checks that the upstream saw exactly want: each identity
// header once, canonically spelled, with the verified value or not at all;
// no other spelling of an identity header; and no value anywhere that a
// test forged (they all contain "forged").
func assertIdentity(t *testing.T, got http.Header, want identity) {
	t.Helper()
	for name, values := range got {
		for _, v := range values {
			if strings.Contains(v, "forged") {
				t.Errorf("upstream received forged %s: %q", name, v)
			}
		}
		// The upstream, a Go server, canonicalizes names it can (X-Openid).
		if id := identityName(name); id != "" && name != http.CanonicalHeaderKey(id) {
			t.Errorf("upstream received %s, a second spelling of %s: %q", name, id, values)
		}
	}
	for _, name := range identityNames {
		v := want.value(name)
		if g := got.Values(name); v == "" && len(g) != 0 || v != "" && !slices.Equal(g, []string{v}) {
			t.Errorf("upstream %s = %q, want %q", name, g, v)
		}
	}
}

// spellings are the ways a client might spell name: cases, '_' for some or
// all of its '-'.
func spellings(name string) []string {
	var alt strings.Builder
	for i, c := range strings.ToLower(name) {
		if i%2 == 1 {
			c = []rune(strings.ToUpper(string(c)))[0]
		}
		alt.WriteRune(c)
	}
	cases := []string{name, strings.ToLower(name), strings.ToUpper(name), http.CanonicalHeaderKey(name), alt.String()}
	var out []string
	for _, s := range cases {
		out = append(out, s, strings.ReplaceAll(s, "-", "_"), strings.Replace(s, "-", "_", 1))
		if i := strings.LastIndex(s, "-"); i >= 0 {
			out = append(out, s[:i]+"_"+s[i+1:])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// h2Spellings are the spellings HTTP/2 allows: lowercase only.
func h2Spellings(name string) []string {
	var out []string
	for _, s := range spellings(name) {
		if s == strings.ToLower(s) {
			out = append(out, s)
		}
	}
	return out
}

// h1 sends a request written by hand: lines are header lines, joined with
// CRLF, sent as they are.
func h1(t *testing.T, baseURL, method, target string, lines ...string) exchange {
	t.Helper()
	return h1Body(t, baseURL, method, target, "", lines...)
}

// h1Body is h1 with a body, sent with its Content-Length.
func h1Body(t *testing.T, baseURL, method, target, body string, lines ...string) exchange {
	t.Helper()
	req := method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	for _, l := range lines {
		req += l + "\r\n"
	}
	if body != "" {
		req += fmt.Sprintf("Content-Length: %d\r\n", len(body))
	}
	r := raw(t, baseURL, req+"Connection: close\r\n\r\n"+body)
	return exchange{Status: r.Status, Body: r.Body}
}

// h1All writes request bytes as they are on one connection and reads every
// response Caddy sends until it closes the connection.
func h1All(t *testing.T, baseURL, request string) []exchange {
	t.Helper()
	conn := dialAndSend(t, baseURL, request)
	defer conn.Close()
	var out []exchange
	br := bufio.NewReader(conn)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return out
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, exchange{Status: resp.StatusCode, Body: b})
		// Caddy keeps the connection open for a next request that may never
		// come: wait for more responses only briefly.
		conn.SetReadDeadline(time.Now().Add(time.Second))
	}
}

// field is one HTTP/2 header field, sent exactly as given through HPACK.
type field struct{ Name, Value string }

// h2Request is one request on a fresh h2c (prior knowledge) connection.
type h2Request struct {
	Method, Path string
	Fields       []field
	Body         string
	Trailers     []field
}

// h2 sends req with Go's HTTP/2 framer and HPACK encoder directly, so that
// header names and values reach Caddy exactly as written, which Go's
// HTTP/2 client would refuse or rewrite.
func h2(t *testing.T, baseURL string, req h2Request) exchange {
	t.Helper()
	host := strings.TrimPrefix(baseURL, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	block := func(fields []field) []byte {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		for _, f := range fields {
			enc.WriteField(hpack.HeaderField{Name: f.Name, Value: f.Value})
		}
		return b.Bytes()
	}
	if req.Method == "" {
		req.Method = "GET"
	}
	pseudo := []field{{":method", req.Method}, {":scheme", "http"}, {":authority", host}, {":path", req.Path}}
	noBody := req.Body == "" && req.Trailers == nil
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(append(pseudo, req.Fields...)), EndStream: noBody, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if req.Body != "" {
		if err := fr.WriteData(1, req.Trailers == nil, []byte(req.Body)); err != nil {
			t.Fatal(err)
		}
	}
	if req.Trailers != nil {
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(req.Trailers), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
	}
	var x exchange
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading HTTP/2 frames: %v (so far: %+v)", err, x)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				fr.WritePing(true, f.Data)
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == 1 && x.Status == 0 {
				fmt.Sscan(f.PseudoValue("status"), &x.Status)
			}
			if f.StreamEnded() {
				return x
			}
		case *http2.DataFrame:
			x.Body = append(x.Body, f.Data()...)
			if f.StreamEnded() {
				return x
			}
		case *http2.RSTStreamFrame:
			return exchange{Reset: f.ErrCode.String()}
		case *http2.GoAwayFrame:
			if x.Status == 0 {
				return exchange{Reset: "GOAWAY " + f.ErrCode.String()}
			}
		}
	}
}

// h2Fields turns "name: value" pairs into fields, for tables shared by h1
// and h2.
func h2Fields(lines []string) []field {
	var out []field
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ": ")
		out = append(out, field{name, value})
	}
	return out
}

func TestIdentityHeadersInEverySpellingNeverReachUpstream(t *testing.T) {
	s := newSmuggleWorld(t)
	paths := []struct {
		name, path, tok string
		want            outcome
		as              identity
	}{
		{"on a protected path with a valid token", "/api/me", s.aliceTok, passes, s.alice},
		{"on a protected path without a token", "/api/me", "", refused, identity{}},
		{"on a public path without a token", "/public/x", "", passes, identity{}},
		{"on a public path with an invalid token", "/public/x", "not.a.token", passes, identity{}},
		{"on a public path with a valid token", "/public/x", s.aliceTok, passes, s.alice},
		{"on a require_phone path with a phone bound", "/vip/x", s.aliceTok, passes, s.alice},
	}
	for _, name := range identityNames {
		for _, p := range paths {
			for _, spelling := range spellings(name) {
				for i, forged := range []string{"forged-value", "forged, " + s.bob.OpenID} {
					t.Run(fmt.Sprintf("HTTP/1.1 %s %s, value %d", spelling, p.name, i), func(t *testing.T) {
						lines := []string{spelling + ": " + forged}
						if p.tok != "" {
							lines = append(lines, "Authorization: Bearer "+p.tok)
						}
						before := len(s.upstream.requests())
						checkOutcome(t, s.upstream, before, h1(t, s.caddy.URL, "GET", p.path, lines...), p.want, p.as)
					})
				}
			}
			for _, spelling := range h2Spellings(name) {
				t.Run("HTTP/2 "+spelling+" "+p.name, func(t *testing.T) {
					fields := []field{{spelling, "forged-value"}}
					if p.tok != "" {
						fields = append(fields, field{"authorization", "Bearer " + p.tok})
					}
					before := len(s.upstream.requests())
					checkOutcome(t, s.upstream, before, h2(t, s.caddy.URL, h2Request{Path: p.path, Fields: fields}), p.want, p.as)
				})
			}
			// Upper case is malformed in HTTP/2 (RFC 9113 §8.2.1): refused
			// outright, or at least stripped.
			t.Run("HTTP/2 "+name+" "+p.name, func(t *testing.T) {
				fields := []field{{name, "forged-value"}}
				if p.tok != "" {
					fields = append(fields, field{"authorization", "Bearer " + p.tok})
				}
				before := len(s.upstream.requests())
				checkOutcome(t, s.upstream, before, h2(t, s.caddy.URL, h2Request{Path: p.path, Fields: fields}), passesOrRejected, p.as)
			})
		}
	}
}

func TestRepeatedAndHopByHopIdentityHeadersNeverReachUpstream(t *testing.T) {
	s := newSmuggleWorld(t)
	auth := "authorization: Bearer " + s.aliceTok
	tests := []struct {
		name  string
		path  string
		lines []string // "name: value", lowercase names so HTTP/2 can send them too
		h2    outcome  // HTTP/2 forbids connection-specific fields
		as    identity
	}{
		{"two x-openid lines", "/api/me", []string{"x-openid: forged-1", "x-openid: forged-2", auth}, passes, s.alice},
		{"x-openid before and after authorization", "/api/me", []string{"x-openid: forged-before", auth, "x-openid: forged-after"}, passes, s.alice},
		{"x-openid and x_openid and x-openid again", "/api/me", []string{"x-openid: forged-1", "x_openid: forged-2", auth, "x-openid: forged-3"}, passes, s.alice},
		{"every identity header twice around authorization", "/api/me", []string{
			"x-openid: forged-o", "x-unionid: forged-u", "x-phone: forged-p", "x-phone-country-code: forged-c", auth,
			"x_openid: forged-o", "x_unionid: forged-u", "x_phone: forged-p", "x_phone_country_code: forged-c",
		}, passes, s.alice},
		{"bob's real openid in place of alice's", "/api/me", []string{auth, "x-openid: forged, " + s.bob.OpenID, "x-openid: " + s.bob.OpenID}, passes, s.alice},
		{"a phone for a user who has none", "/api/me", []string{"authorization: Bearer " + s.bobTok, "x-phone: forged-p", "x_phone_country_code: forged-c"}, passes, s.bob},
		{"a forged phone on a require_phone path for a user who has none", "/vip/offer", []string{"authorization: Bearer " + s.bobTok, "x-phone: 13000000000-forged"}, phoneRequired, identity{}},
		{"connection naming x-openid with a forged x-openid on a public path", "/public/x", []string{"connection: x-openid", "x-openid: forged"}, passesOrRejected, identity{}},
		{"connection naming x-openid", "/api/me", []string{auth, "connection: x-openid"}, passesOrRejected, s.alice},
		{"connection naming every identity header in odd spellings", "/api/me", []string{auth, "connection: X_OPENID, x-unionid, X-Phone, x_phone_country_code"}, passesOrRejected, s.alice},
		{"two connection lines naming identity headers", "/api/me", []string{auth, "connection: keep-alive, x-openid", "connection: x_phone", "x-phone: forged"}, passesOrRejected, s.alice},
	}
	for _, tc := range tests {
		t.Run("HTTP/1.1 "+tc.name, func(t *testing.T) {
			want := tc.h2
			if want == passesOrRejected {
				want = passes // Connection is ordinary in HTTP/1.1
			}
			before := len(s.upstream.requests())
			checkOutcome(t, s.upstream, before, h1(t, s.caddy.URL, "GET", tc.path, tc.lines...), want, tc.as)
		})
		t.Run("HTTP/2 "+tc.name, func(t *testing.T) {
			before := len(s.upstream.requests())
			checkOutcome(t, s.upstream, before, h2(t, s.caddy.URL, h2Request{Path: tc.path, Fields: h2Fields(tc.lines)}), tc.h2, tc.as)
		})
	}
}

func TestLineBreaksInHeadersCannotSmuggleAnIdentityHeader(t *testing.T) {
	s := newSmuggleWorld(t)
	auth := "Authorization: Bearer " + s.aliceTok
	h1Tests := []struct {
		name  string
		lines []string // joined by CRLF: a CRLF inside one is a line break on the wire
		want  outcome
		// folded: the forged text may survive inside X-Other's value, where
		// it is no header at all (obs-fold joins the lines).
		folded bool
	}{
		{"CRLF inside one line starts a second header", []string{"X-Foo: a\r\nX-OpenID: forged-crlf", auth}, passes, false},
		{"CRLF then x_openid", []string{auth, "X-Foo: a\r\nx_openid: forged-crlf"}, passes, false},
		{"a bare LF inside a value", []string{"X-Foo: a\nX-OpenID: forged-lf", auth}, passesOrRejected, false},
		{"a bare CR inside a value", []string{"X-Foo: a\rX-OpenID: forged-cr", auth}, passesOrRejected, false},
		{"an obs-fold continuation line", []string{auth, "X-Other: a\r\n X-OpenID: forged-fold"}, passesOrRejected, true},
		{"an obs-fold continuation line with a tab", []string{auth, "X-Other: a\r\n\tX-Phone: forged-fold"}, passesOrRejected, true},
		{"an obs-fold continuation of X-OpenID itself", []string{auth, "X-OpenID: forged-a\r\n forged-b"}, passesOrRejected, false},
		{"a space before the colon", []string{auth, "X-OpenID : forged-space"}, passesOrRejected, false},
		{"a tab before the colon", []string{auth, "X-OpenID\t: forged-tab"}, passesOrRejected, false},
		{"a NUL in the name", []string{auth, "X-OpenID\x00: forged-nul"}, passesOrRejected, false},
		{"a NUL in the value", []string{auth, "X-Foo: a\x00X-OpenID: forged-nul"}, passesOrRejected, false},
		{"a name with no colon", []string{auth, "X-OpenID forged-nocolon"}, passesOrRejected, false},
	}
	for _, tc := range h1Tests {
		t.Run("HTTP/1.1 "+tc.name, func(t *testing.T) {
			before := len(s.upstream.requests())
			x := h1(t, s.caddy.URL, "GET", "/api/me", tc.lines...)
			if tc.folded && x.Status == http.StatusOK {
				// The joined value is one opaque header; what matters is
				// that no identity header carries it.
				after := s.upstream.requests()
				if len(after) != before+1 {
					t.Fatalf("upstream got %d requests, want 1", len(after)-before)
				}
				got := after[before].Clone()
				got.Del("X-Other")
				assertIdentity(t, got, s.alice)
				return
			}
			checkOutcome(t, s.upstream, before, x, tc.want, s.alice)
		})
	}
	h2Tests := []struct {
		name   string
		fields []field
	}{
		{"CRLF inside a value", []field{{"x-foo", "a\r\nx-openid: forged-crlf"}}},
		{"a bare LF inside a value", []field{{"x-foo", "a\nx-openid: forged-lf"}}},
		{"CRLF and a space inside a value", []field{{"x-foo", "a\r\n x-openid: forged-fold"}}},
		{"CRLF inside x-openid's value", []field{{"x-openid", "forged\r\nx-openid: forged-2"}}},
		{"CRLF inside a name", []field{{"x-foo\r\nx-openid", "forged-name"}}},
		{"a colon inside a name", []field{{"x-openid:", "forged-colon"}}},
		{"a NUL inside a value", []field{{"x-foo", "a\x00x-openid: forged-nul"}}},
	}
	for _, tc := range h2Tests {
		t.Run("HTTP/2 "+tc.name, func(t *testing.T) {
			before := len(s.upstream.requests())
			fields := append([]field{{"authorization", "Bearer " + s.aliceTok}}, tc.fields...)
			checkOutcome(t, s.upstream, before, h2(t, s.caddy.URL, h2Request{Path: "/api/me", Fields: fields}), passesOrRejected, s.alice)
		})
	}
}

func TestPipelinedAndDesynchronizedRequestsCannotSmuggleAnIdentity(t *testing.T) {
	s := newSmuggleWorld(t)
	auth := "Authorization: Bearer " + s.aliceTok + "\r\n"
	smuggled := "GET /public/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\nX-OpenID: forged-smuggled\r\nx_phone: forged-smuggled\r\n\r\n"
	tests := []struct {
		name, request string
		// statuses are Caddy's answers in order. Go's server lets chunked
		// win over Content-Length (RFC 9112 §6.3), so a request hidden after
		// the last chunk is a request of its own, and goes through wxauth.
		statuses []int
	}{
		{"a pipelined second request on a public path",
			"GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + "\r\n" +
				"GET /public/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-OpenID: forged-pipelined\r\nConnection: close\r\n\r\n",
			[]int{200, 200}},
		{"a pipelined second request without a token on a protected path",
			"GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + "\r\n" +
				"GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-OpenID: forged-pipelined\r\nConnection: close\r\n\r\n",
			[]int{200, 401}},
		{"Content-Length and chunked (CL.TE) with a request after the last chunk",
			"POST /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + fmt.Sprintf("Content-Length: %d\r\n", 5+len(smuggled)) +
				"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			[]int{200, 200}},
		{"chunked and Content-Length (TE.CL) with a request inside the chunk",
			"POST /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
				fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled),
			[]int{200}},
		{"two Content-Lengths",
			"POST /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + "Content-Length: 0\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(smuggled)) + smuggled,
			[]int{400}},
		{"an obfuscated Transfer-Encoding",
			"POST /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + "Content-Length: 0\r\nTransfer-Encoding: xchunked\r\n\r\n" + smuggled,
			[]int{501}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.upstream.requests())
			got := h1All(t, s.caddy.URL, tc.request)
			var statuses []int
			for _, x := range got {
				statuses = append(statuses, x.Status)
			}
			if !slices.Equal(statuses, tc.statuses) {
				var bodies []string
				for _, x := range got {
					bodies = append(bodies, string(x.Body))
				}
				t.Fatalf("statuses %v, want %v; bodies %q", statuses, tc.statuses, bodies)
			}
			// Each 200 is one upstream request, in order: the one for
			// /api/me carries alice's identity, any other none at all.
			after := s.upstream.requests()[before:]
			var forwarded []exchange
			for _, x := range got {
				if x.Status == http.StatusOK {
					forwarded = append(forwarded, x)
				}
			}
			if len(after) != len(forwarded) {
				t.Fatalf("upstream got %d requests, want %d", len(after), len(forwarded))
			}
			for i, x := range forwarded {
				want := identity{}
				if bytes.Contains(x.Body, []byte(`"/api/me"`)) {
					want = s.alice
				}
				assertIdentity(t, after[i], want)
			}
		})
	}
}

func TestTrailersCannotCarryAnIdentity(t *testing.T) {
	s := newSmuggleWorld(t)
	paths := []struct {
		name, path, tok string
		as              identity
	}{
		{"on a protected path", "/api/me", s.aliceTok, s.alice},
		{"on a public path", "/public/x", "", identity{}},
	}
	// Request trailers arrive after the handler has run; the upstream here
	// merges them into its headers, as a careless framework might.
	declarations := []struct{ name, trailer string }{
		{"declared", "X-OpenID, X_Phone, x-phone-country-code"},
		{"declared under another name only", "X-Checksum"},
		{"not declared", ""},
	}
	forged := []field{{"x-openid", "forged-trailer"}, {"x_phone", "forged-trailer"}, {"x-phone-country-code", "forged-trailer"}, {"x-checksum", "abc"}}
	for _, p := range paths {
		for _, d := range declarations {
			t.Run(fmt.Sprintf("HTTP/1.1 %s, %s", d.name, p.name), func(t *testing.T) {
				req := "POST " + p.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				if p.tok != "" {
					req += "Authorization: Bearer " + p.tok + "\r\n"
				}
				if d.trailer != "" {
					req += "Trailer: " + d.trailer + "\r\n"
				}
				req += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n"
				for _, f := range forged {
					req += f.Name + ": " + f.Value + "\r\n"
				}
				before := len(s.upstream.requests())
				r := raw(t, s.caddy.URL, req+"\r\n")
				checkOutcome(t, s.upstream, before, exchange{Status: r.Status, Body: r.Body}, passes, p.as)
			})
			t.Run(fmt.Sprintf("HTTP/2 %s, %s", d.name, p.name), func(t *testing.T) {
				var fields []field
				if d.trailer != "" {
					fields = append(fields, field{"trailer", strings.ToLower(d.trailer)})
				}
				if p.tok != "" {
					fields = append(fields, field{"authorization", "Bearer " + p.tok})
				}
				before := len(s.upstream.requests())
				x := h2(t, s.caddy.URL, h2Request{Method: "POST", Path: p.path, Fields: fields, Body: "hello", Trailers: forged})
				checkOutcome(t, s.upstream, before, x, passesOrRejected, p.as)
			})
		}
	}
}

func TestAmbiguousOrMisplacedTokensAuthenticateNobody(t *testing.T) {
	s := newSmuggleWorld(t)
	tok := s.aliceTok
	tests := []struct {
		name   string
		path   string
		lines  []string // lowercase names, sent over both protocols
		want   outcome
		asUser identity
	}{
		{"authorization twice with the same valid token", "/api/me", []string{"authorization: Bearer " + tok, "authorization: Bearer " + tok}, refused, identity{}},
		{"a valid token then garbage", "/api/me", []string{"authorization: Bearer " + tok, "authorization: Bearer forged"}, refused, identity{}},
		{"garbage then a valid token", "/api/me", []string{"authorization: Bearer forged", "authorization: Bearer " + tok}, refused, identity{}},
		{"alice's token then bob's", "/api/me", []string{"authorization: Bearer " + tok, "authorization: Bearer " + s.bobTok}, refused, identity{}},
		{"authorization twice on a public path", "/public/x", []string{"authorization: Bearer " + tok, "authorization: Bearer " + s.bobTok}, passes, identity{}},
		{"two tokens in one authorization", "/api/me", []string{"authorization: Bearer " + tok + ", Bearer " + s.bobTok}, refused, identity{}},
		{"an access_token query parameter", "/api/me?access_token=" + tok, nil, refused, identity{}},
		{"an access_token query parameter on a public path", "/public/x?access_token=" + tok, nil, passes, identity{}},
		{"a token query parameter", "/api/me?token=" + tok, nil, refused, identity{}},
		{"a token in a cookie", "/api/me", []string{"cookie: access_token=" + tok + "; token=" + tok}, refused, identity{}},
		{"a token in proxy-authorization", "/api/me", []string{"proxy-authorization: Bearer " + tok}, refused, identity{}},
		{"a token in x-access-token", "/api/me", []string{"x-access-token: " + tok}, refused, identity{}},
		{"a token in x-forwarded-authorization", "/api/me", []string{"x-forwarded-authorization: Bearer " + tok}, refused, identity{}},
		{"a token without the Bearer scheme", "/api/me", []string{"authorization: " + tok}, refused, identity{}},
		{"a token under the Basic scheme", "/api/me", []string{"authorization: Basic " + tok}, refused, identity{}},
		{"a token with forged headers and a token query for bob", "/api/me?access_token=" + s.bobTok, []string{"authorization: Bearer " + tok, "x-openid: forged"}, passes, s.alice},
	}
	for _, tc := range tests {
		t.Run("HTTP/1.1 "+tc.name, func(t *testing.T) {
			before := len(s.upstream.requests())
			checkOutcome(t, s.upstream, before, h1(t, s.caddy.URL, "GET", tc.path, tc.lines...), tc.want, tc.asUser)
		})
		t.Run("HTTP/2 "+tc.name, func(t *testing.T) {
			before := len(s.upstream.requests())
			checkOutcome(t, s.upstream, before, h2(t, s.caddy.URL, h2Request{Path: tc.path, Fields: h2Fields(tc.lines)}), tc.want, tc.asUser)
		})
	}
}

func TestForgedIdentityHeadersDoNotChangeWhomTheOwnEndpointsActFor(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		t.Run(proto, func(t *testing.T) {
			s := newSmuggleWorld(t)
			send := func(t *testing.T, method, path string, lines []string, body string) exchange {
				t.Helper()
				if proto == "HTTP/2" {
					return h2(t, s.caddy.URL, h2Request{Method: method, Path: path, Fields: h2Fields(lines), Body: body})
				}
				return h1Body(t, s.caddy.URL, method, path, body, lines...)
			}
			forgeBob := []string{"x-openid: " + s.bob.OpenID, "x_openid: " + s.bob.OpenID, "x-unionid: forged", "x-phone: forged"}
			upstreamBefore := len(s.upstream.requests())

			// Login answers for the code's user, whoever the headers name.
			x := send(t, "POST", "/wx/login", append(forgeBob, "content-type: application/json"), fmt.Sprintf(`{"code":%q}`, s.mock.Code("carol")))
			var login map[string]any
			if err := json.Unmarshal(x.Body, &login); x.Status != http.StatusOK || err != nil || login["openid"] != s.mock.OpenID("carol") {
				t.Fatalf("login with forged headers: %d %s", x.Status, x.Body)
			}
			carolTok, _ := login["token"].(string)

			// A phone bound with forged headers goes to the token's user.
			x = send(t, "POST", "/wx/phone", append(forgeBob, "authorization: Bearer "+carolTok, "content-type: application/json"),
				fmt.Sprintf(`{"code":%q}`, s.mock.PhoneCode("carol", "13700137000")))
			if x.Status != http.StatusOK {
				t.Fatalf("phone with forged headers: %d %s", x.Status, x.Body)
			}
			// The JWKS is served as ever.
			if x = send(t, "GET", "/wx/.well-known/jwks.json", forgeBob, ""); x.Status != http.StatusOK || !bytes.Contains(x.Body, []byte(`"keys"`)) {
				t.Fatalf("jwks with forged headers: %d %s", x.Status, x.Body)
			}
			// Logout with bob's openid forged logs out carol only.
			if x = send(t, "POST", "/wx/logout", append(forgeBob, "authorization: Bearer "+carolTok), ""); x.Status != http.StatusNoContent {
				t.Fatalf("logout with forged headers: %d %s", x.Status, x.Body)
			}
			if n := len(s.upstream.requests()); n != upstreamBefore {
				t.Fatalf("the endpoints contacted the upstream %d times", n-upstreamBefore)
			}

			wantError(t, do(t, "GET", s.caddy.URL+"/api/me", carolTok, ""), 401, "unauthorized")
			for _, u := range []struct {
				tok string
				as  identity
			}{{s.bobTok, s.bob}, {s.aliceTok, s.alice}} {
				if r := do(t, "GET", s.caddy.URL+"/api/me", u.tok, ""); r.Status != http.StatusOK {
					t.Fatalf("%s after carol's logout: %d %s", u.as.OpenID, r.Status, r.Body)
				}
				assertIdentity(t, s.upstream.last(t), u.as)
			}
		})
	}
}

// jsonBody renders v for a request body.
func jsonBody(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// recordingWeChat serves the fake WeChat and remembers every session_key and
// access_token it hands out, so a test can look for them where they must
// not be.
type recordingWeChat struct {
	mock    *wxmock.Server
	mu      sync.Mutex
	secrets []string
}

func (rw *recordingWeChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	rw.mock.ServeHTTP(rec, r)
	var v struct {
		SessionKey  string `json:"session_key"`
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(rec.Body.Bytes(), &v) == nil {
		rw.mu.Lock()
		for _, s := range []string{v.SessionKey, v.AccessToken} {
			if s != "" {
				rw.secrets = append(rw.secrets, s)
			}
		}
		rw.mu.Unlock()
	}
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

func (rw *recordingWeChat) handedOut() []string {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return slices.Clone(rw.secrets)
}

func TestNoSecretAppearsInTheLogsOfPhoneProfileAndForgedTokenFlows(t *testing.T) {
	mock := wxmock.New(wxmock.Config{AppID: testAppID, AppSecret: testSecret, UnionID: true})
	wechat := &recordingWeChat{mock: mock}
	w := &world{mock: mock, wechat: httptest.NewServer(wechat), upstream: newUpstream(t)}
	t.Cleanup(w.wechat.Close)
	w.caddy = w.another(t, "")
	base := w.caddy.URL

	var tokens, bodies []string
	record := func(r response) response { bodies = append(bodies, string(r.Body)); return r }
	// step runs one request of the flow and checks its status.
	step := func(name string, status int, r response) {
		t.Helper()
		record(r)
		if r.Status != status {
			t.Errorf("%s: status %d, want %d; body %s", name, r.Status, status, r.Body)
		}
	}

	alice, bob := w.login(t, "alice"), w.login(t, "bob")
	tokens = append(tokens, alice, bob)

	// Phone by code: success, a reused code, another user's code, WeChat
	// failing and the access_token refused then refreshed.
	code := mock.PhoneCode("alice", "13800138000")
	step("phone by code", 200, postJSON(t, base+"/wx/phone", alice, map[string]string{"code": code}))
	step("a reused phone code", 401, postJSON(t, base+"/wx/phone", alice, map[string]string{"code": code}))
	step("bob's phone code with alice's token", 401, postJSON(t, base+"/wx/phone", alice, map[string]string{"code": mock.PhoneCode("bob", "13900139000")}))
	mock.InvalidateTokens()
	step("phone after the access_token was invalidated", 200, postJSON(t, base+"/wx/phone", bob, map[string]string{"code": mock.PhoneCode("bob", "13900139000")}))
	for _, errcode := range []int{-1, 40001, 45011, 40013} {
		mock.Fail(wxmock.PathGetUserPhoneNumber, errcode, 5)
		r := record(postJSON(t, base+"/wx/phone", alice, map[string]string{"code": mock.PhoneCode("alice", "13800138000")}))
		if r.Status < 400 {
			t.Errorf("phone with WeChat failing %d: status %d", errcode, r.Status)
		}
	}
	mock.Fail(wxmock.PathGetUserPhoneNumber, 0, 0)
	for _, errcode := range []int{-1, 40013, 40125} {
		mock.InvalidateTokens()
		mock.Fail(wxmock.PathStableToken, errcode, 5)
		r := record(postJSON(t, base+"/wx/phone", alice, map[string]string{"code": mock.PhoneCode("alice", "13800138000")}))
		if r.Status < 400 {
			t.Errorf("phone with stable_token failing %d: status %d", errcode, r.Status)
		}
	}
	mock.Fail(wxmock.PathStableToken, 0, 0)

	// Legacy phone: success, then every kind of bad data.
	data, iv, err := mock.EncryptedPhone("alice", "13800138000")
	if err != nil {
		t.Fatal(err)
	}
	bobData, bobIV, err := mock.EncryptedPhone("bob", "13900139000")
	if err != nil {
		t.Fatal(err)
	}
	step("legacy phone", 200, postJSON(t, base+"/wx/phone", alice, map[string]string{"encrypted_data": data, "iv": iv}))
	step("legacy phone, camelCase", 200, postJSON(t, base+"/wx/phone", alice, map[string]string{"encryptedData": data, "iv": iv}))
	for name, body := range map[string]map[string]string{
		"a flipped ciphertext byte": {"encrypted_data": flipB64(t, data, 0), "iv": iv},
		"a flipped last block":      {"encrypted_data": flipB64(t, data, -1), "iv": iv},
		"a wrong iv":                {"encrypted_data": data, "iv": bobIV},
		"bob's data":                {"encrypted_data": bobData, "iv": bobIV},
		"bad base64":                {"encrypted_data": "%%%not-base64", "iv": iv},
		"a short block":             {"encrypted_data": base64.StdEncoding.EncodeToString([]byte("short")), "iv": iv},
	} {
		step("legacy phone with "+name, 400, postJSON(t, base+"/wx/phone", alice, body))
	}

	// Profile: success, a bad signature, bob's data under alice's token.
	raw, sig, pdata, piv, err := mock.EncryptedProfile("alice")
	if err != nil {
		t.Fatal(err)
	}
	braw, bsig, bdata, biv, err := mock.EncryptedProfile("bob")
	if err != nil {
		t.Fatal(err)
	}
	step("profile", 200, postJSON(t, base+"/wx/profile", alice, map[string]string{"raw_data": raw, "signature": sig, "encrypted_data": pdata, "iv": piv}))
	step("profile, camelCase", 200, postJSON(t, base+"/wx/profile", alice, map[string]string{"rawData": raw, "signature": sig, "encryptedData": pdata, "iv": piv}))
	step("profile with a bad signature", 400, postJSON(t, base+"/wx/profile", alice, map[string]string{"raw_data": raw, "signature": strings.Repeat("0", 40), "encrypted_data": pdata, "iv": piv}))
	step("profile with bob's data", 400, postJSON(t, base+"/wx/profile", alice, map[string]string{"raw_data": braw, "signature": bsig, "encrypted_data": bdata, "iv": biv}))
	step("profile with a flipped byte", 400, postJSON(t, base+"/wx/profile", alice, map[string]string{"raw_data": raw, "signature": sig, "encrypted_data": flipB64(t, pdata, 0), "iv": piv}))
	step("profile without a token", 401, postJSON(t, base+"/wx/profile", "", map[string]string{"raw_data": raw, "signature": sig, "encrypted_data": pdata, "iv": piv}))

	// Forged tokens on every endpoint that verifies one.
	forged := forgeTokens(t, alice, mock.OpenID("bob"))
	for name, f := range forged {
		for _, ep := range []string{"/api/me", "/wx/phone", "/wx/profile", "/wx/logout"} {
			method, body := "POST", `{"code":"x"}`
			if ep == "/api/me" {
				method, body = "GET", ""
			}
			step(name+" on "+ep, 401, do(t, method, base+ep, f, body))
		}
		tokens = append(tokens, f)
	}

	// Logins WeChat refuses, then logout and use after logout.
	for _, errcode := range []int{-1, 40029, 40163, 45011, 40226, 40013, 40125} {
		mock.Fail(wxmock.PathJSCode2Session, errcode, 5)
		r := record(do(t, "POST", base+"/wx/login", "", jsonBody(t, map[string]string{"code": mock.Code("zed")})))
		if r.Status < 400 {
			t.Errorf("login with WeChat failing %d: status %d", errcode, r.Status)
		}
	}
	mock.Fail(wxmock.PathJSCode2Session, 0, 0)
	// Proxied requests: reverse_proxy logs each round trip at debug level,
	// request headers included.
	step("a proxied request", 200, do(t, "GET", base+"/api/me", alice, ""))
	step("a proxied request on a public path", 200, do(t, "GET", base+"/public/x", bob, ""))
	step("logout", 204, do(t, "POST", base+"/wx/logout", alice, ""))
	step("use after logout", 401, do(t, "GET", base+"/api/me", alice, ""))
	step("phone after logout", 401, postJSON(t, base+"/wx/phone", alice, map[string]string{"encrypted_data": data, "iv": iv}))

	// WeChat unreachable: net/http's errors quote the whole URL, secret= and
	// access_token= included.
	carol := w.login(t, "carol")
	tokens = append(tokens, carol)
	phoneCode, loginCode := mock.PhoneCode("carol", "13600136000"), mock.Code("dave")
	w.wechat.Close()
	step("login with WeChat down", 502, do(t, "POST", base+"/wx/login", "", jsonBody(t, map[string]string{"code": loginCode})))
	step("phone with WeChat down", 502, postJSON(t, base+"/wx/phone", carol, map[string]string{"code": phoneCode}))

	logs := w.caddy.logSoFar(t)
	for _, want := range []string{`"level":"debug"`, `"level":"error"`, "decrypt_failed", "upstream_error", "invalid_code", "unauthorized", "upstream roundtrip"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs never mention %s, so this test proves less than it claims", want)
		}
	}
	secrets := append([]string{testSecret}, wechat.handedOut()...)
	if len(secrets) < 6 {
		t.Fatalf("WeChat handed out only %d session_keys and access_tokens", len(secrets)-1)
	}
	// Tokens are the client's own, and the echoing upstream hands them back;
	// they must only stay out of the logs.
	for _, tok := range tokens {
		parts := strings.Split(tok, ".")
		if strings.Contains(logs, tok) || len(parts) == 3 && len(parts[2]) >= 16 && strings.Contains(logs, parts[2]) {
			t.Errorf("a token or its signature appears in the logs: %.12s…", tok)
		}
	}
	for _, s := range secrets {
		for _, form := range []string{s, url.QueryEscape(s), strings.TrimRight(s, "=")} {
			if strings.Contains(logs, form) {
				t.Errorf("a secret appears in the logs: %.8s…", s)
			}
			for _, b := range bodies {
				if strings.Contains(b, form) {
					t.Errorf("a secret appears in a response: %.8s…", s)
				}
			}
		}
	}
}

// flipB64 flips one byte of base64 data: at i, or from the end when i < 0.
func flipB64(t *testing.T, s string, i int) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	if i < 0 {
		i += len(b)
	}
	b[i] ^= 0x01
	return base64.StdEncoding.EncodeToString(b)
}

// forgeTokens returns tokens an attacker might make from a real one: alg
// none, a payload for another openid, a flipped signature, and a token
// properly signed by a key of the attacker's under the real kid.
func forgeTokens(t *testing.T, real, otherOpenID string) map[string]string {
	t.Helper()
	parts := strings.Split(real, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["sub"] = otherOpenID
	other, _ := json.Marshal(claims)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signed := parts[0] + "." + b64(other)
	noKID := b64([]byte(strings.Replace(string(header), `"kid"`, `"x-kid"`, 1))) + "." + b64(other)
	return map[string]string{
		"alg none":                  b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(other) + ".",
		"another openid's payload":  parts[0] + "." + b64(other) + "." + parts[2],
		"a flipped signature":       parts[0] + "." + parts[1] + "." + flip(parts[2]),
		"a truncated signature":     real[:len(real)-8],
		"an attacker's key":         signed + "." + b64(ed25519.Sign(key, []byte(signed))),
		"an attacker's key, no kid": noKID + "." + b64(ed25519.Sign(key, []byte(noKID))),
	}
}
