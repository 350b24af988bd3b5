package wxmock

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// OpenID returns user's openid in the default app: a stable function of
// (AppID, user), 28 characters starting with "o" like WeChat's
// ("oGZUI0egBJY1zhBYw2KhdUfwVJJE"). The same user has a different openid in
// another app, as on WeChat. Like every helper naming a user, it makes user a
// user of the app, whom subscribe/send and msg_sec_check accept.
func (s *Server) OpenID(user string) string { return s.apps[0].OpenID(user) }

// OpenID returns user's openid in this app, and makes user a user of it.
func (a *AppHandle) OpenID(user string) string {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.knowLocked(user)
}

// UnionID returns user's unionid: stable, 28 characters starting with "o",
// and — unlike the openid — independent of the AppID, because a unionid names
// the user across all apps of one Open Platform account.
func (s *Server) UnionID(user string) string { return unionID(user) }

// UnionID returns user's unionid, the same as in every other app.
func (a *AppHandle) UnionID(user string) string { return unionID(user) }

func unionID(user string) string {
	return identifier("wxmock unionid\x00" + user)
}

func openID(appID, user string) string {
	return identifier("wxmock openid\x00" + appID + "\x00" + user)
}

// identifier derives a WeChat-looking id; the NUL separators keep
// ("ab","c") and ("a","bc") apart.
func identifier(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return "o" + base64.RawURLEncoding.EncodeToString(sum[:])[:27]
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomAlnum returns n random characters from [A-Za-z0-9], the shape of a
// wx.login code ("0716AVll20uHk94SLDml27etM946AVlq").
func randomAlnum(n int) string {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
		for _, b := range buf {
			// Rejection sampling keeps every character equally likely.
			if int(b) < 256-256%len(alnum) && len(out) < n {
				out = append(out, alnum[int(b)%len(alnum)])
			}
		}
	}
	return string(out)
}

// randomHex returns 2n hex digits, the shape of a getPhoneNumber code.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newSessionKey returns a fresh session_key: 16 random bytes, base64 — an
// AES-128 key, as the open-data decryption docs require.
func newSessionKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}
