package caddymodule

import (
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/wxauth/caddy-wxauth/auth"
)

// The identity headers an upstream may trust, as the README names them.
const (
	headerOpenID      = "X-OpenID"
	headerUnionID     = "X-UnionID"
	headerPhone       = "X-Phone"
	headerCountryCode = "X-Phone-Country-Code"
)

var identityHeaders = []string{headerOpenID, headerUnionID, headerPhone, headerCountryCode}

// The same names as header map keys. setIdentity assigns them directly:
// Header.Set would canonicalize each mixed-case name into a new string on
// every request.
var (
	keyOpenID      = http.CanonicalHeaderKey(headerOpenID)
	keyUnionID     = http.CanonicalHeaderKey(headerUnionID)
	keyPhone       = http.CanonicalHeaderKey(headerPhone)
	keyCountryCode = http.CanonicalHeaderKey(headerCountryCode)
)

// ServeHTTP strips client-sent identity, answers wxauth's own endpoints,
// verifies the token and hands the request on with the verified identity.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	stripIdentityHeaders(r.Header)
	stripIdentityTrailers(r)

	if serve := h.endpoint(r.URL.Path); serve != nil {
		return serve(w, r)
	}

	public := len(h.Public) > 0 && everyReadingMatches(h.Public, r)
	if public && r.Header.Get("Authorization") == "" {
		metrics.public.Inc()
		return next.ServeHTTP(w, r)
	}
	id, err := h.verify(r)
	if err != nil {
		if public {
			metrics.public.Inc()
			return next.ServeHTTP(w, r)
		}
		metrics.rejected.Inc()
		return h.writeError(w, err)
	}
	if id.Phone == nil && len(h.RequirePhone) > 0 && someReadingMatches(h.RequirePhone, r) {
		metrics.rejected.Inc()
		return h.writeError(w, &auth.Error{Code: auth.CodePhoneRequired, Message: "bind a phone number first"})
	}
	metrics.verified.Inc()
	setIdentity(r, id)
	return next.ServeHTTP(w, r)
}

// verify checks the request's Bearer token. A request with several
// Authorization headers is refused: which one counts would be ambiguous.
func (h *Handler) verify(r *http.Request) (auth.Identity, error) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return auth.Identity{}, &auth.Error{Code: auth.CodeUnauthorized, Message: "a valid Bearer token is required"}
	}
	scheme, raw, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return auth.Identity{}, &auth.Error{Code: auth.CodeUnauthorized, Message: "a valid Bearer token is required"}
	}
	return h.service.Verify(r.Context(), strings.TrimSpace(raw))
}

// setIdentity hands id to the next handlers as headers and placeholders.
func setIdentity(r *http.Request, id auth.Identity) {
	// One backing array for every value instead of a slice per header.
	v := make([]string, 0, 4)
	v = append(v, id.OpenID)
	r.Header[keyOpenID] = v[0:1:1]
	if id.UnionID != "" {
		v = append(v, id.UnionID)
		r.Header[keyUnionID] = v[len(v)-1 : len(v) : len(v)]
	}
	if id.Phone != nil {
		v = append(v, id.Phone.PhoneNumber, id.Phone.CountryCode)
		r.Header[keyPhone] = v[len(v)-2 : len(v)-1 : len(v)-1]
		r.Header[keyCountryCode] = v[len(v)-1 : len(v) : len(v)]
	}
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		return
	}
	repl.Set("http.auth.user.id", id.OpenID)
	repl.Set("wx.openid", id.OpenID)
	repl.Set("wx.unionid", id.UnionID)
	if id.Phone != nil {
		repl.Set("wx.phone", id.Phone.PhoneNumber)
	}
}

// stripIdentityHeaders removes every header whose name is an identity
// header's, compared case-insensitively with '_' counted as '-' (upstreams
// such as PHP and nginx's CGI variables treat them alike), and every such
// name listed in Connection, which reverse_proxy would otherwise use to drop
// the headers we inject.
func stripIdentityHeaders(hdr http.Header) {
	for name := range hdr {
		if isIdentityHeader(name) {
			delete(hdr, name)
		}
	}
	conn, ok := hdr["Connection"]
	if !ok {
		return
	}
	kept := conn[:0]
	for _, v := range conn {
		var tokens []string
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !isIdentityHeader(t) {
				tokens = append(tokens, t)
			}
		}
		if len(tokens) > 0 {
			kept = append(kept, strings.Join(tokens, ", "))
		}
	}
	if len(kept) == 0 {
		delete(hdr, "Connection")
	} else {
		hdr["Connection"] = kept
	}
}

// stripIdentityTrailers keeps identity headers out of request trailers,
// which reverse_proxy forwards and some upstream frameworks merge into the
// headers. Trailers arrive after the body, long after this handler ran, into
// r.Trailer — a map this request shares with reverse_proxy's copy only when
// the client declared a trailer; without a declaration none ever reaches it.
// So declared names are cleaned now, and arrived values when the body reaches
// its end. Requests that declare no trailer, nearly all, are left as they are.
func stripIdentityTrailers(r *http.Request) {
	if r.Trailer == nil || r.Body == nil {
		return
	}
	stripIdentityHeaders(r.Trailer)
	r.Body = &trailerStripper{ReadCloser: r.Body, trailer: r.Trailer}
}

// trailerStripper strips identity headers from trailer once the body is
// read to its end, before whoever read it (reverse_proxy) sends the trailers on.
type trailerStripper struct {
	io.ReadCloser
	trailer http.Header
}

func (b *trailerStripper) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		stripIdentityHeaders(b.trailer)
	}
	return n, err
}

func isIdentityHeader(name string) bool {
	for _, id := range identityHeaders {
		if sameHeaderName(name, id) {
			return true
		}
	}
	return false
}

// sameHeaderName compares without allocating: ASCII case-insensitive, '_' = '-'.
func sameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if fold(a[i]) != fold(b[i]) {
			return false
		}
	}
	return true
}

func fold(c byte) byte {
	switch {
	case c == '_':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}

// A path holding ';', '\\', '%' (sent as %25) or NUL (%00) is read
// differently by different upstreams: Tomcat and Spring drop ";params" from
// each segment, IIS takes '\\' for '/', some frameworks decode twice, C code
// stops at NUL. `public /static/*` must not let /static/..;/api/x through to
// a protected page, nor `/vip;/offers` slip past `require_phone /vip/*`. So
// for such a path every reading an upstream may make is judged: public only
// if every reading is, phone required if any reading requires it. Other
// paths, nearly all, have one reading and cost one IndexAny.
const ambiguousPathBytes = ";\\%\x00"

// everyReadingMatches reports whether m matches every reading of r's path.
func everyReadingMatches(m caddyhttp.MatchPath, r *http.Request) bool {
	if !strings.ContainsAny(r.URL.Path, ambiguousPathBytes) {
		return m.Match(r)
	}
	for _, p := range pathReadings(r.URL.Path) {
		if !m.Match(withPath(r, p)) {
			return false
		}
	}
	return true
}

// someReadingMatches reports whether m matches some reading of r's path.
func someReadingMatches(m caddyhttp.MatchPath, r *http.Request) bool {
	if !strings.ContainsAny(r.URL.Path, ambiguousPathBytes) {
		return m.Match(r)
	}
	for _, p := range pathReadings(r.URL.Path) {
		if m.Match(withPath(r, p)) {
			return true
		}
	}
	return false
}

// pathReadingSteps are what upstreams do to a decoded path, alone or together.
var pathReadingSteps = []func(string) string{
	func(p string) string { // decoded once more
		if d, err := url.PathUnescape(p); err == nil {
			return d
		}
		return p
	},
	func(p string) string { return strings.ReplaceAll(p, "\\", "/") }, // IIS
	func(p string) string { // Tomcat, Spring: path parameters dropped
		segs := strings.Split(p, "/")
		for i, s := range segs {
			segs[i], _, _ = strings.Cut(s, ";")
		}
		return strings.Join(segs, "/")
	},
	func(p string) string { p, _, _ = strings.Cut(p, "\x00"); return p }, // C strings
	func(p string) string { return strings.ReplaceAll(p, "\x00", "") },
}

// pathReadings is decoded as it is, and after every combination of
// pathReadingSteps, each cleaned as an upstream would resolve it.
func pathReadings(decoded string) []string {
	readings := []string{decoded}
	for set := 1; set < 1<<len(pathReadingSteps); set++ {
		p := decoded
		for i, step := range pathReadingSteps {
			if set&(1<<i) != 0 {
				p = step(p)
			}
		}
		if p = path.Clean("/" + p); !slices.Contains(readings, p) {
			readings = append(readings, p)
		}
	}
	return readings
}

// withPath is a shallow copy of r whose URL has the decoded path p.
func withPath(r *http.Request, p string) *http.Request {
	u := *r.URL
	u.Path, u.RawPath = p, ""
	r2 := *r
	r2.URL = &u
	return &r2
}
