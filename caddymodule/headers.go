package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"golang.org/x/net/http/httpguts"

	"github.com/wxauth/caddy-wxauth/auth"
)

// The default profile's names, as the README names them.
const (
	headerOpenID      = "X-OpenID"
	headerUnionID     = "X-UnionID"
	headerPhone       = "X-Phone"
	headerCountryCode = "X-Phone-Country-Code"
	headerAppID       = "X-AppID"
)

// The cloudrun profile's names: those WeChat Cloud Run (微信云托管) hands its
// services, so a service written for Cloud Run runs behind wxauth unchanged.
const (
	headerWXOpenID             = "X-WX-OPENID"
	headerWXUnionID            = "X-WX-UNIONID"
	headerWXAppID              = "X-WX-APPID"
	headerWXSource             = "X-WX-SOURCE"
	headerOriginalForwardedFor = "X-Original-Forwarded-For"

	// wxSourceClient is X-WX-SOURCE's value for a call from a mini program.
	wxSourceClient = "wx_client"
)

// alwaysStripped are the names some upstream may take for an identity,
// stripped from every request whatever profile is active: a client must not
// hand a default-profile upstream an X-OpenID nor a Cloud Run service an
// X-WX-OPENID, whichever names this handler sends.
var alwaysStripped = []string{
	headerOpenID, headerUnionID, headerPhone, headerCountryCode, headerAppID,
	headerWXOpenID, headerWXUnionID, headerWXAppID, headerWXSource, headerOriginalForwardedFor,
	// What Cloud Run sends on calls between services, its environment and
	// its access tokens.
	"X-WX-FROM-OPENID", "X-WX-FROM-APPID", "X-WX-FROM-UNIONID", "X-WX-ENV",
	"X-WX-CLOUDBASE-ACCESS-TOKEN", "X-WX-FROM-CLOUDBASE-ACCESS-TOKEN",
}

// HeaderProfile chooses the request headers that carry the verified identity
// to the upstream: a built-in profile, or a name for each field to send.
// Whatever it chooses, wxauth first strips from every request the names of
// both profiles, Cloud Run's other identity names (X-WX-FROM-OPENID,
// X-WX-FROM-APPID, X-WX-FROM-UNIONID, X-WX-ENV,
// X-WX-CLOUDBASE-ACCESS-TOKEN, X-WX-FROM-CLOUDBASE-ACCESS-TOKEN) and the
// custom names below — compared case-insensitively with `_` counted as `-`,
// also in the Connection header and in request trailers — so a client can
// never choose, or hide, the identity an upstream sees.
//
// Absent, the default profile. `{"profile": "cloudrun"}` picks a profile;
// `{"openid": "X-User", "appid": "X-App"}` sends exactly the fields named, as
// named. A profile and custom names exclude each other, and one of them is
// required. The placeholders `{wx.openid}`, `{http.auth.user.id}`,
// `{wx.unionid}`, `{wx.phone}` and `{wx.appid}` are set whatever is chosen.
type HeaderProfile struct {
	// A built-in set of names:
	//
	// - "default": `X-OpenID`, `X-UnionID` (when known), `X-Phone` and
	//   `X-Phone-Country-Code` (once a phone is bound), `X-AppID`.
	// - "cloudrun": WeChat Cloud Run's names, for services written for it:
	//   `X-WX-OPENID`, `X-WX-UNIONID` (when known), `X-WX-APPID`,
	//   `X-WX-SOURCE: wx_client`, and `X-Original-Forwarded-For` set to
	//   Caddy's client IP (behind a load balancer, configure
	//   `trusted_proxies`, else that is the balancer's address). No phone.
	Profile string `json:"profile,omitempty"`

	// Custom names. Each names the header that carries one field; a field
	// without a name is not sent. A name must be a valid header name, used
	// by one field only, and not one that carries the request itself or is
	// dropped by proxies (Authorization, Host, Cookie, Content-*,
	// Connection and the other hop-by-hop headers, Forwarded,
	// X-Forwarded-*): it is stripped from every client request.
	//
	// The user's openid.
	OpenID string `json:"openid,omitempty"`
	// The user's unionid, sent when WeChat or /wx/profile told us one.
	UnionID string `json:"unionid,omitempty"`
	// The bound phone number (WeChat's phoneNumber), sent once bound.
	Phone string `json:"phone,omitempty"`
	// The bound phone's country code (WeChat's countryCode), sent once bound.
	CountryCode string `json:"country_code,omitempty"`
	// The AppID of the mini program the token was issued for.
	AppID string `json:"appid,omitempty"`
}

// headerNames are the names identity is sent under; "" is not sent.
type headerNames struct {
	openID, unionID, phone, countryCode, appID string
	source                                     string // sent as wx_client
	clientIP                                   string // sent as Caddy's client IP
}

// headerProfiles are the built-in profiles, by name.
var headerProfiles = map[string]headerNames{
	"default": {
		openID: headerOpenID, unionID: headerUnionID, phone: headerPhone,
		countryCode: headerCountryCode, appID: headerAppID,
	},
	"cloudrun": {
		openID: headerWXOpenID, unionID: headerWXUnionID, appID: headerWXAppID,
		source: headerWXSource, clientIP: headerOriginalForwardedFor,
	},
}

// customHeaderFields are a custom block's fields, in the order they are
// checked and named in errors.
var customHeaderFields = []string{"openid", "unionid", "phone", "country_code", "appid"}

// field is the custom name of field (one of customHeaderFields), or nil.
func (p *HeaderProfile) field(name string) *string {
	switch name {
	case "openid":
		return &p.OpenID
	case "unionid":
		return &p.UnionID
	case "phone":
		return &p.Phone
	case "country_code":
		return &p.CountryCode
	case "appid":
		return &p.AppID
	}
	return nil
}

// check reports the first mistake in p; nil is the default profile.
func (p *HeaderProfile) check() error {
	if p == nil {
		return nil
	}
	var named []string // fields given a custom name
	for _, f := range customHeaderFields {
		if *p.field(f) != "" {
			named = append(named, f)
		}
	}
	if p.Profile != "" {
		if _, ok := headerProfiles[p.Profile]; !ok {
			return fmt.Errorf("wxauth: headers: unknown profile %q (default or cloudrun)", p.Profile)
		}
		if len(named) > 0 {
			return fmt.Errorf("wxauth: headers: profile %q and a custom name (%s) exclude each other: use the profile, or name every header to send", p.Profile, named[0])
		}
		return nil
	}
	if len(named) == 0 {
		return errors.New("wxauth: headers: name a profile (default or cloudrun) or at least one field (openid, unionid, phone, country_code, appid)")
	}
	for i, f := range named {
		name := *p.field(f)
		if err := checkHeaderName(name); err != nil {
			return fmt.Errorf("wxauth: headers: %s: %w", f, err)
		}
		for _, g := range named[:i] {
			if foldName(name) == foldName(*p.field(g)) {
				return fmt.Errorf("wxauth: headers: %s and %s both name %q: each field needs its own header", g, f, name)
			}
		}
	}
	return nil
}

// Why a name cannot carry identity. Every identity name is stripped from
// client requests, so it must be one no request needs, and one that reaches
// the upstream.
const (
	hopByHop      = "it is a hop-by-hop header, which reverse_proxy drops before the upstream"
	partOfRequest = "it carries the request itself, and identity names are stripped from every client request"
	setByProxy    = "reverse_proxy sets it"
)

// reservedHeaders are the names a custom block may not use, folded.
var reservedHeaders = map[string]string{
	"connection":          hopByHop,
	"keep-alive":          hopByHop,
	"proxy-connection":    hopByHop,
	"proxy-authenticate":  hopByHop,
	"proxy-authorization": hopByHop,
	"te":                  hopByHop,
	"trailer":             hopByHop,
	"transfer-encoding":   hopByHop,
	"upgrade":             hopByHop,
	"host":                partOfRequest,
	"authorization":       partOfRequest,
	"cookie":              partOfRequest,
	"content-length":      partOfRequest,
	"content-type":        partOfRequest,
	"content-encoding":    partOfRequest,
	"content-range":       partOfRequest,
	"expect":              partOfRequest,
	"forwarded":           setByProxy,
	"x-forwarded-for":     setByProxy,
	"x-forwarded-host":    setByProxy,
	"x-forwarded-proto":   setByProxy,
}

func checkHeaderName(name string) error {
	if name == "" {
		return errors.New("empty header name")
	}
	if !httpguts.ValidHeaderFieldName(name) {
		return fmt.Errorf("%q is not a valid header name", name)
	}
	if why, ok := reservedHeaders[foldName(name)]; ok {
		return fmt.Errorf("%q cannot carry identity: %s", name, why)
	}
	return nil
}

// names are the headers p sends each field under.
func (p *HeaderProfile) names() headerNames {
	switch {
	case p == nil:
		return headerProfiles["default"]
	case p.Profile != "":
		return headerProfiles[p.Profile]
	}
	return headerNames{openID: p.OpenID, unionID: p.UnionID, phone: p.Phone, countryCode: p.CountryCode, appID: p.AppID}
}

// headerRules are a HeaderProfile resolved for the hot path: the header map
// keys to set, and the names to strip.
type headerRules struct {
	// set holds canonical keys, assigned to the header map directly:
	// Header.Set would canonicalize each name into a new string on every
	// request.
	set headerNames
	// strip holds the stripped names folded (lower case, '_' as '-'),
	// indexed by length, so a header name is compared only with the names
	// of its length.
	strip [][]string
}

// provision checks p and resolves it; nil is the default profile.
func (p *HeaderProfile) provision() (*headerRules, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	n := p.names()
	rules := &headerRules{set: headerNames{
		openID:      canonicalKey(n.openID),
		unionID:     canonicalKey(n.unionID),
		phone:       canonicalKey(n.phone),
		countryCode: canonicalKey(n.countryCode),
		appID:       canonicalKey(n.appID),
		source:      canonicalKey(n.source),
		clientIP:    canonicalKey(n.clientIP),
	}}
	for _, name := range alwaysStripped {
		rules.addStripped(name)
	}
	for _, name := range []string{n.openID, n.unionID, n.phone, n.countryCode, n.appID, n.source, n.clientIP} {
		if name != "" {
			rules.addStripped(name)
		}
	}
	return rules, nil
}

func canonicalKey(name string) string {
	if name == "" {
		return ""
	}
	return http.CanonicalHeaderKey(name)
}

func (hr *headerRules) addStripped(name string) {
	f := foldName(name)
	for len(hr.strip) <= len(f) {
		hr.strip = append(hr.strip, nil)
	}
	for _, s := range hr.strip[len(f)] {
		if s == f {
			return
		}
	}
	hr.strip[len(f)] = append(hr.strip[len(f)], f)
}

// defaultHeaderRules is the default profile, for handlers without a
// headers config.
var defaultHeaderRules = func() *headerRules {
	hr, err := (*HeaderProfile)(nil).provision()
	if err != nil {
		panic(err)
	}
	return hr
}()

// setIdentity hands id to the next handlers as the profile's headers, and as
// placeholders whatever the profile. The request's identity headers must have
// been stripped first.
func (hr *headerRules) setIdentity(r *http.Request, id auth.Identity) {
	s := &hr.set
	var ip string
	if s.clientIP != "" {
		ip = clientIP(r)
	}
	// One backing array for every value instead of a slice per header,
	// sized to what is sent.
	n := count(s.openID != "") + count(s.unionID != "" && id.UnionID != "") +
		count(s.phone != "" && id.Phone != nil) + count(s.countryCode != "" && id.Phone != nil) +
		count(s.appID != "" && id.AppID != "") + count(s.source != "") + count(ip != "")
	v := make([]string, 0, n)
	v = put(r.Header, v, s.openID, id.OpenID)
	if id.UnionID != "" {
		v = put(r.Header, v, s.unionID, id.UnionID)
	}
	if id.Phone != nil {
		v = put(r.Header, v, s.phone, id.Phone.PhoneNumber)
		v = put(r.Header, v, s.countryCode, id.Phone.CountryCode)
	}
	if id.AppID != "" {
		v = put(r.Header, v, s.appID, id.AppID)
	}
	v = put(r.Header, v, s.source, wxSourceClient)
	if ip != "" {
		put(r.Header, v, s.clientIP, ip)
	}

	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		return
	}
	var openID any = id.OpenID // boxed once for both placeholders
	repl.Set("http.auth.user.id", openID)
	repl.Set("wx.openid", openID)
	repl.Set("wx.unionid", id.UnionID)
	repl.Set("wx.appid", id.AppID)
	if id.Phone != nil {
		repl.Set("wx.phone", id.Phone.PhoneNumber)
	}
}

func count(b bool) int {
	if b {
		return 1
	}
	return 0
}

// put appends value to v and makes it key's only value, capped so that an
// append by a later handler cannot write into the next header's value. An
// empty key is a field the profile does not send.
func put(hdr http.Header, v []string, key, value string) []string {
	if key == "" {
		return v
	}
	v = append(v, value)
	n := len(v)
	hdr[key] = v[n-1 : n : n]
	return v
}

// stripHeaders removes every header whose name is one hr strips, compared
// case-insensitively with '_' counted as '-' (upstreams such as PHP and
// nginx's CGI variables treat them alike), and every such name listed in
// Connection, which reverse_proxy would otherwise use to drop the headers we
// inject.
func (hr *headerRules) stripHeaders(hdr http.Header) {
	for name := range hdr {
		if hr.isIdentityHeader(name) {
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
			if t = strings.TrimSpace(t); t != "" && !hr.isIdentityHeader(t) {
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

// stripTrailers keeps identity headers out of request trailers, which
// reverse_proxy forwards and some upstream frameworks merge into the
// headers. Trailers arrive after the body, long after this handler ran, into
// r.Trailer — a map this request shares with reverse_proxy's copy only when
// the client declared a trailer; without a declaration none ever reaches it.
// So declared names are cleaned now, and arrived values when the body reaches
// its end. Requests that declare no trailer, nearly all, are left as they are.
func (hr *headerRules) stripTrailers(r *http.Request) {
	if r.Trailer == nil || r.Body == nil {
		return
	}
	hr.stripHeaders(r.Trailer)
	r.Body = &trailerStripper{ReadCloser: r.Body, trailer: r.Trailer, rules: hr}
}

// trailerStripper strips identity headers from trailer once the body is
// read to its end, before whoever read it (reverse_proxy) sends the trailers on.
type trailerStripper struct {
	io.ReadCloser
	trailer http.Header
	rules   *headerRules
}

func (b *trailerStripper) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.rules.stripHeaders(b.trailer)
	}
	return n, err
}

// isIdentityHeader reports whether hr strips name.
func (hr *headerRules) isIdentityHeader(name string) bool {
	if len(name) >= len(hr.strip) {
		return false
	}
	for _, f := range hr.strip[len(name)] {
		if sameFolded(name, f) {
			return true
		}
	}
	return false
}

// sameFolded compares a, folded as it goes, with an already folded name
// without allocating: ASCII case-insensitive, '_' = '-'.
func sameFolded(a, folded string) bool {
	if len(a) != len(folded) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if fold(a[i]) != folded[i] {
			return false
		}
	}
	return true
}

func foldName(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = fold(c)
	}
	return string(b)
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

// parseHeaders parses wxauth's headers subdirective, d on the word headers.
// Syntax:
//
//	headers default | cloudrun
//
//	headers {
//	    openid       <name>
//	    unionid      <name>
//	    phone        <name>
//	    country_code <name>
//	    appid        <name>
//	}
//
// The block sends only the fields it names. Unknown and repeated fields, a
// profile with a block, and the mistakes HeaderProfile.check finds are errors.
func parseHeaders(d *caddyfile.Dispenser) (*HeaderProfile, error) {
	p := new(HeaderProfile)
	switch args := d.RemainingArgs(); len(args) {
	case 0:
	case 1:
		p.Profile = args[0]
		if opensBlock(d) {
			return nil, d.Errf("wxauth: headers %s takes no block: use the profile, or name every header to send in a block", p.Profile)
		}
	default:
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		field := d.Val()
		dst := p.field(field)
		if dst == nil {
			return nil, d.Errf("wxauth: headers: unknown field %q (openid, unionid, phone, country_code or appid)", field)
		}
		if *dst != "" {
			return nil, d.Errf("wxauth: headers: %s given twice", field)
		}
		args := d.RemainingArgs()
		if len(args) != 1 {
			return nil, d.ArgErr()
		}
		if args[0] == "" {
			return nil, d.Errf("wxauth: headers: %s: empty header name", field)
		}
		*dst = args[0]
	}
	if err := p.check(); err != nil {
		return nil, d.Err(err.Error())
	}
	return p, nil
}

// opensBlock reports whether the token after d's current one opens a block on
// the same line, without moving d. After RemainingArgs, any token left on
// the line is an unquoted '{'.
func opensBlock(d *caddyfile.Dispenser) bool {
	line := d.Line()
	if !d.Next() {
		return false
	}
	defer d.Prev()
	return d.Val() == "{" && d.Line() == line
}
