package integration

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The harness's WeChat has UnionID off, so jscode2session never names a
// unionid: the only source of one is the legacy profile data.
func TestALegacyProfileIsVerifiedAndItsUnionIDReachesUpstream(t *testing.T) {
	w := newWorld(t, "")
	tok := w.login(t, "alice")
	if got := w.upstreamSees(t, tok, "/api/me").Get("X-UnionID"); got != "" {
		t.Fatalf("before /wx/profile upstream saw X-UnionID %q", got)
	}

	// Failures first: none of them may bind a unionid.
	w.login(t, "bob")
	raw, sig, data, iv := w.encryptedProfile(t, "alice")
	bobRaw, bobSig, bobData, bobIV := w.encryptedProfile(t, "bob")
	aliceKey := w.mock.SessionKey("alice")
	// Bob's profile re-signed and re-encrypted under alice's session_key: it
	// passes every check but the openid's.
	bobPlain := fmt.Appendf(nil, `{"openId":%q,"unionId":%q,"nickName":"微信用户","avatarUrl":"","watermark":{"timestamp":%d,"appid":%q}}`,
		w.mock.OpenID("bob"), w.mock.UnionID("bob"), time.Now().Unix(), testAppID)
	bobUnderAlice, bobUnderAliceIV := encryptOpenData(t, aliceKey, bobPlain)
	otherApp, otherAppIV := encryptOpenData(t, aliceKey, fmt.Appendf(nil, `{"openId":%q,"unionId":"u","watermark":{"appid":"wxffffffffffffffff"}}`,
		w.mock.OpenID("alice")))

	profileBody := func(raw, sig, data, iv string) string {
		return objectBody(t, "raw_data", raw, "signature", sig, "encrypted_data", data, "iv", iv)
	}
	good := profileBody(raw, sig, data, iv)
	failures := []struct {
		name, method, token, body string
		status                    int
		code                      string
	}{
		{"a wrong signature", "POST", tok, profileBody(raw, flipHex(sig), data, iv), 400, "decrypt_failed"},
		{"a signature of other rawData", "POST", tok, profileBody(raw+" ", sig, data, iv), 400, "decrypt_failed"},
		{"bob's profile with alice's token", "POST", tok, profileBody(bobRaw, bobSig, bobData, bobIV), 400, "decrypt_failed"},
		{"bob's openid under alice's key (openid mismatch)", "POST", tok, profileBody(raw, sig, bobUnderAlice, bobUnderAliceIV), 400, "decrypt_failed"},
		{"a watermark naming another app", "POST", tok, profileBody(raw, sig, otherApp, otherAppIV), 400, "decrypt_failed"},
		{"ciphertext cut mid-block", "POST", tok, profileBody(raw, sig, data[:len(data)-8], iv), 400, "decrypt_failed"},
		{"no signature", "POST", tok, profileBody(raw, "", data, iv), 400, "invalid_request"},
		{"no iv", "POST", tok, profileBody(raw, sig, data, ""), 400, "invalid_request"},
		{"a JSON array", "POST", tok, "[]", 400, "invalid_request"},
		{"no token", "POST", "", good, 401, "unauthorized"},
		{"GET", "GET", tok, "", 405, "method_not_allowed"},
	}
	var decryptBody []byte
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, w.caddy.URL+"/wx/profile", tc.token, tc.body)
			wantError(t, r, tc.status, tc.code)
			if tc.code != "decrypt_failed" {
				return
			}
			if decryptBody == nil {
				decryptBody = r.Body
			}
			if !bytes.Equal(r.Body, decryptBody) {
				t.Fatalf("body %q differs from the first decrypt_failed %q", r.Body, decryptBody)
			}
		})
	}
	if got := w.upstreamSees(t, tok, "/api/me").Get("X-UnionID"); got != "" {
		t.Fatalf("after only failures upstream saw X-UnionID %q", got)
	}

	var profile struct{ NickName, AvatarURL string }
	if err := json.Unmarshal([]byte(raw), &profile); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"openid":     w.mock.OpenID("alice"),
		"unionid":    w.mock.UnionID("alice"),
		"nickname":   profile.NickName,
		"avatar_url": profile.AvatarURL,
	}
	spellings := []struct {
		name string
		body func(raw, sig, data, iv string) string
	}{
		{"snake_case", profileBody},
		{"WeChat's camelCase", func(raw, sig, data, iv string) string {
			return objectBody(t, "rawData", raw, "signature", sig, "encryptedData", data, "iv", iv)
		}},
	}
	for _, sp := range spellings {
		t.Run(sp.name, func(t *testing.T) {
			raw, sig, data, iv := w.encryptedProfile(t, "alice")
			r := do(t, "POST", w.caddy.URL+"/wx/profile", tok, sp.body(raw, sig, data, iv))
			if r.Status != http.StatusOK {
				t.Fatalf("/wx/profile: %d %s", r.Status, r.Body)
			}
			if got := r.JSON(t); !reflect.DeepEqual(got, want) {
				t.Fatalf("/wx/profile answered %s, want %v", r.Body, want)
			}
		})
	}

	if got := w.upstreamSees(t, tok, "/api/me").Get("X-UnionID"); got != w.mock.UnionID("alice") {
		t.Fatalf("upstream saw X-UnionID %q, want alice's %q", got, w.mock.UnionID("alice"))
	}
	r := do(t, "POST", w.caddy.URL+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, w.mock.Code("alice")))
	if r.Status != http.StatusOK || r.JSON(t)["unionid"] != w.mock.UnionID("alice") {
		t.Fatalf("alice's next login: %d %s, want the unionid the profile gave", r.Status, r.Body)
	}
	if strings.Contains(string(r.Body), aliceKey) {
		t.Fatal("the login answer contains a session_key")
	}
	w.noSecretsLogged(t, "alice", "bob")
}

// encryptedProfile is the legacy getUserProfile data for user's latest session_key.
func (w *world) encryptedProfile(t testing.TB, user string) (raw, sig, data, iv string) {
	t.Helper()
	raw, sig, data, iv, err := w.mock.EncryptedProfile(user)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha1.Sum([]byte(raw + w.mock.SessionKey(user))); hex.EncodeToString(want[:]) != sig {
		t.Fatal("the mock's signature is not sha1(rawData + session_key)")
	}
	return raw, sig, data, iv
}

// flipHex changes the first hex digit of s.
func flipHex(s string) string {
	if s == "" {
		return "0"
	}
	c := byte('0')
	if s[0] == '0' {
		c = '1'
	}
	return string(c) + s[1:]
}

// objectBody renders key/value pairs as a JSON object; empty values are left out.
func objectBody(t testing.TB, kv ...string) string {
	t.Helper()
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			m[kv[i]] = kv[i+1]
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
