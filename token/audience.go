package token

import (
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
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return ""
	}
	var c struct {
		Audience audience `json:"aud"`
	}
	if json.Unmarshal(b, &c) != nil || len(c.Audience) != 1 {
		return ""
	}
	return c.Audience[0]
}
