package caddymodule

import (
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Some paths are read differently by different upstreams: Tomcat and Spring
// drop ";params" from each segment, IIS takes '\' for '/', some frameworks
// decode twice, C code stops at NUL, and many route a path with "..", "."
// or "//" segments as it is, without resolving it, while Caddy's matchers
// resolve it first. `public /static/*` must not let /static/..;/api/x or
// /api/../static/x through to a protected page, nor `/vip;/offers` slip past
// `require_phone /vip/*`. So such a path is judged under every reading an
// upstream may make of it: public only if every reading is, phone required
// if any reading requires it. Other paths, nearly all, have one reading and
// cost a few substring scans.

// maxJudgedPath bounds the work: a longer ambiguous path is judged protected
// and phone-requiring without reading it every way.
const maxJudgedPath = 2048

// everyReadingMatches reports whether m matches every reading of r's path.
func everyReadingMatches(m caddyhttp.MatchPath, r *http.Request) bool {
	return readingsMatch(m, r, true)
}

// someReadingMatches reports whether m matches some reading of r's path.
func someReadingMatches(m caddyhttp.MatchPath, r *http.Request) bool {
	return readingsMatch(m, r, false)
}

// readingsMatch reports whether m matches every reading of r's path (all)
// or some reading of it (!all).
func readingsMatch(m caddyhttp.MatchPath, r *http.Request, all bool) bool {
	p := r.URL.Path
	if !ambiguousPath(p) {
		return m.Match(r)
	}
	if len(p) > maxJudgedPath {
		return !all // protected, and phone-requiring
	}
	for _, reading := range pathReadings(p) {
		if m.Match(withPath(r, reading)) != all {
			return !all
		}
	}
	return all
}

func ambiguousPath(p string) bool {
	return strings.ContainsAny(p, ";\\%\x00") || hasDotOrEmptySegment(p)
}

// hasDotOrEmptySegment reports a ".", ".." or empty segment (p is decoded).
func hasDotOrEmptySegment(p string) bool {
	return strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") ||
		strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..")
}

// readingStep is one thing upstreams do to a decoded path.
type readingStep struct {
	applies func(p string) bool
	apply   func(p string) string
}

var readingSteps = []readingStep{
	{func(p string) bool { return strings.Contains(p, "%") }, decodeLeniently}, // decoded once more
	{func(p string) bool { return strings.Contains(p, "\\") }, func(p string) string { // IIS
		return strings.ReplaceAll(p, "\\", "/")
	}},
	{func(p string) bool { return strings.Contains(p, ";") }, func(p string) string { // Tomcat, Spring
		segs := strings.Split(p, "/")
		for i, s := range segs {
			segs[i], _, _ = strings.Cut(s, ";")
		}
		return strings.Join(segs, "/")
	}},
	{func(p string) bool { return strings.Contains(p, "\x00") }, func(p string) string { // C strings
		p, _, _ = strings.Cut(p, "\x00")
		return p
	}},
	{func(p string) bool { return strings.Contains(p, "\x00") }, func(p string) string {
		return strings.ReplaceAll(p, "\x00", "")
	}},
	{hasDotOrEmptySegment, cutBeforeDotOrEmptySegment}, // routed as it is
}

// cutStep is the bit of the last reading step, the cut, in a set of them.
var cutStep = 1 << (len(readingSteps) - 1)

// pathReadings is decoded as it is, and after every combination of
// readingSteps that applies, each cleaned as an upstream resolving it would.
func pathReadings(decoded string) []string {
	readings := []string{decoded}
	for set := 1; set < 1<<len(readingSteps); set++ {
		p, changed := decoded, true
		for i, step := range readingSteps {
			if set&(1<<i) == 0 {
				continue
			}
			if !step.applies(p) {
				changed = false // the same reading as a smaller set
				break
			}
			p = step.apply(p)
		}
		if !changed {
			continue
		}
		readingsOfSet := []string{p, path.Clean("/" + p)}
		if set&cutStep != 0 {
			readingsOfSet = readingsOfSet[:1] // a route prefix: cleaning it would drop its slash
		}
		for _, reading := range readingsOfSet {
			if !slices.Contains(readings, reading) {
				readings = append(readings, reading)
			}
		}
	}
	return readings
}

// decodeLeniently decodes every valid %XX and keeps invalid escapes as they
// are, as PHP and Python do: url.PathUnescape would refuse the whole path
// for one bad escape.
func decodeLeniently(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			b.WriteByte(unhex(p[i+1])<<4 | unhex(p[i+2]))
			i += 2
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// cutBeforeDotOrEmptySegment is p up to its first ".", ".." or empty
// segment: the route an upstream that does not resolve the path may take.
func cutBeforeDotOrEmptySegment(p string) string {
	segs := strings.Split(p, "/")
	for i := 1; i < len(segs); i++ {
		if s := segs[i]; s == "." || s == ".." || (s == "" && i < len(segs)-1) {
			return strings.Join(segs[:i], "/") + "/"
		}
	}
	return p
}

// withPath is a shallow copy of r whose URL has the decoded path p.
func withPath(r *http.Request, p string) *http.Request {
	u := *r.URL
	u.Path, u.RawPath = p, ""
	r2 := *r
	r2.URL = &u
	return &r2
}
