package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Audience returns the "aud" a compact token claims, without verifying
// anything: it only tells a caller serving several apps which app's Manager
// should verify raw. It is "" for anything that does not look like a token
// with one audience.
func Audience(raw string) string {
	if len(raw) > MaxSize {
		return ""
	}
	_, rest, ok := strings.Cut(raw, ".")
	if !ok {
		return ""
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok {
		return ""
	}
	var buf [512]byte // a payload of ours fits: no allocation on the hot path
	b := buf[:0]
	if n := base64.RawURLEncoding.DecodedLen(len(payload)); n > len(buf) {
		b = make([]byte, 0, n)
	}
	b, err := base64.RawURLEncoding.AppendDecode(b, []byte(payload))
	if err != nil {
		return ""
	}
	// Issue writes "aud":"<appid>" once, which a scan finds without
	// encoding/json's cost (the hot path of every handler with several
	// accounts). Without backslashes no quote stands inside a string, so
	// `"aud"` in any case (encoding/json matches keys without regard to
	// case) is a key wherever it stands; a nested or odd payload may be
	// routed to the wrong account, whose Verify then refuses it, as it
	// refuses any token not its own. Anything else — escapes, a list,
	// spaces, several aud keys, bytes JSON would read otherwise — is decoded.
	if bytes.IndexByte(b, '\\') < 0 && audKeys(b) == 1 {
		if _, rest, ok := bytes.Cut(b, audKeyString); ok {
			if v, _, ok := bytes.Cut(rest, []byte{'"'}); ok && plainASCII(v) {
				return string(v)
			}
		}
	}
	var c struct {
		Audience audience `json:"aud"`
	}
	// A copy, so that buf need not escape to the heap on the fast path.
	if json.Unmarshal(bytes.Clone(b), &c) != nil || len(c.Audience) != 1 {
		return ""
	}
	return c.Audience[0]
}

var audKeyString = []byte(`"aud":"`)

// audKeys counts `"aud"` in b in any case.
func audKeys(b []byte) int {
	n := 0
	for i := 0; i+5 <= len(b); i++ {
		if b[i] == '"' && b[i+4] == '"' && b[i+1]|0x20 == 'a' && b[i+2]|0x20 == 'u' && b[i+3]|0x20 == 'd' {
			n++
		}
	}
	return n
}

// plainASCII reports whether v is a non-empty JSON string body that reads
// as itself: printable ASCII without escapes.
func plainASCII(v []byte) bool {
	for _, c := range v {
		if c < 0x20 || c > 0x7e || c == '\\' {
			return false
		}
	}
	return len(v) > 0
}
