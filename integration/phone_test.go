package integration

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/wxmock"
)

func TestAPhoneBoundByCodeReachesUpstreamAndTheUsersNextLogin(t *testing.T) {
	w := newWorld(t, "")
	tok := w.login(t, "alice")

	r := w.bindPhoneByCode(t, tok, "alice", "13800138000")
	want := map[string]any{"phone_number": "13800138000", "pure_phone_number": "13800138000", "country_code": "86"}
	if got := r.JSON(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("/wx/phone answered %s, want %v", r.Body, want)
	}

	seen := w.upstreamSees(t, tok, "/api/me")
	if seen.Get("X-Phone") != "13800138000" || seen.Get("X-Phone-Country-Code") != "86" {
		t.Fatalf("upstream saw X-Phone %q, X-Phone-Country-Code %q; want 13800138000, 86",
			seen.Get("X-Phone"), seen.Get("X-Phone-Country-Code"))
	}
	if seen.Get("X-OpenID") != w.mock.OpenID("alice") {
		t.Fatalf("upstream saw X-OpenID %q, want alice's", seen.Get("X-OpenID"))
	}

	r = do(t, "POST", w.caddy.URL+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, w.mock.Code("alice")))
	if r.Status != http.StatusOK || r.JSON(t)["has_phone"] != true {
		t.Fatalf("alice's next login: %d %s, want has_phone true", r.Status, r.Body)
	}
	next, _ := r.JSON(t)["token"].(string)
	if got := w.upstreamSees(t, next, "/api/me").Get("X-Phone"); got != "13800138000" {
		t.Fatalf("the next login's token carried X-Phone %q, want 13800138000", got)
	}
	r = do(t, "POST", w.caddy.URL+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, w.mock.Code("bob")))
	if r.Status != http.StatusOK || r.JSON(t)["has_phone"] != false {
		t.Fatalf("bob's login: %d %s, want has_phone false", r.Status, r.Body)
	}
}

func TestALegacyEncryptedPhoneIsBoundInEitherSpelling(t *testing.T) {
	w := newWorld(t, "")
	tok := w.login(t, "alice")
	tests := []struct {
		name, format, phone string
	}{
		{"snake_case", `{"encrypted_data":%q,"iv":%q}`, "13800138001"},
		{"WeChat's camelCase", `{"encryptedData":%q,"iv":%q}`, "13800138002"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, iv := w.encryptedPhone(t, "alice", tc.phone)
			r := do(t, "POST", w.caddy.URL+"/wx/phone", tok, fmt.Sprintf(tc.format, data, iv))
			if r.Status != http.StatusOK || r.JSON(t)["phone_number"] != tc.phone || r.JSON(t)["country_code"] != "86" {
				t.Fatalf("/wx/phone: %d %s, want 200 with %s", r.Status, r.Body, tc.phone)
			}
			if got := w.upstreamSees(t, tok, "/api/me").Get("X-Phone"); got != tc.phone {
				t.Fatalf("upstream saw X-Phone %q, want %s", got, tc.phone)
			}
		})
	}
}

// The mini program's getPhoneNumber button may call wx.login while WeChat
// encrypts the data, which replaces the session_key the data was encrypted
// with; the plugin keeps the last three.
func TestLegacyPhoneDataDecryptsUnderAnyOfTheLastThreeSessionKeys(t *testing.T) {
	w := newWorld(t, "")
	first := w.login(t, "alice")
	tests := []struct {
		name        string
		loginsAfter int // logins of alice between encrypting and posting
		status      int
	}{
		{"under the latest key", 0, http.StatusOK},
		{"after one more login, as wx.login inside getPhoneNumber does", 1, http.StatusOK},
		{"after two more logins (the oldest key kept)", 2, http.StatusOK},
		{"after three more logins (the key was dropped)", 3, http.StatusBadRequest},
		{"after five more logins", 5, http.StatusBadRequest},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			phone := fmt.Sprintf("1390000%04d", i)
			data, iv := w.encryptedPhone(t, "alice", phone)
			latest := first
			for range tc.loginsAfter {
				latest = w.login(t, "alice")
			}
			body := fmt.Sprintf(`{"encrypted_data":%q,"iv":%q}`, data, iv)
			for name, tok := range map[string]string{"the first token": first, "the latest token": latest} {
				r := do(t, "POST", w.caddy.URL+"/wx/phone", tok, body)
				if tc.status != http.StatusOK {
					wantError(t, r, tc.status, "decrypt_failed")
					continue
				}
				if r.Status != http.StatusOK || r.JSON(t)["phone_number"] != phone {
					t.Fatalf("with %s: %d %s, want 200 with %s", name, r.Status, r.Body, phone)
				}
			}
		})
	}
}

func TestEveryLegacyPhoneDecryptFailureAnswersTheSameBody(t *testing.T) {
	w := newWorld(t, "")
	tok := w.login(t, "alice")
	w.login(t, "bob")
	key := w.mock.SessionKey("alice")
	good, goodIV := w.encryptedPhone(t, "alice", "13800138000")
	ct := mustB64(t, good)

	phoneJSON := func(appid string) []byte {
		return fmt.Appendf(nil, `{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":"86","watermark":{"timestamp":%d,"appid":%q}}`,
			time.Now().Unix(), appid)
	}
	flipped := bytes.Clone(ct)
	flipped[len(flipped)-1] ^= 0x01
	badPad := bytes.Clone(ct) // flips the last plaintext byte, the padding, only
	badPad[len(badPad)-aes.BlockSize-1] ^= 0x01
	bobData, bobIV := w.encryptedPhone(t, "bob", "13900139000")
	otherApp, otherAppIV := encryptOpenData(t, key, phoneJSON("wxffffffffffffffff"))
	noAppID, noAppIDIV := encryptOpenData(t, key, []byte(`{"phoneNumber":"13800138000","countryCode":"86"}`))
	notJSON, notJSONIV := encryptOpenData(t, key, []byte("13800138000"))
	noPhone, noPhoneIV := encryptOpenData(t, key, fmt.Appendf(nil, `{"watermark":{"appid":%q}}`, testAppID))
	_, otherIV := w.encryptedPhone(t, "alice", "13800138000")

	tests := []struct{ name, data, iv string }{
		{"encrypted_data that is not base64", "!!not*base64!!", goodIV},
		{"an iv that is not base64", good, "%%%%"},
		{"an iv of 8 bytes", good, base64.StdEncoding.EncodeToString(make([]byte, 8))},
		{"an iv of 32 bytes", good, base64.StdEncoding.EncodeToString(make([]byte, 32))},
		{"ciphertext cut mid-block", base64.StdEncoding.EncodeToString(ct[:len(ct)-5]), goodIV},
		{"ciphertext missing its last block", base64.StdEncoding.EncodeToString(ct[:len(ct)-16]), goodIV},
		{"a flipped last byte (bad padding)", base64.StdEncoding.EncodeToString(flipped), goodIV},
		{"a padding byte flipped through the previous block", base64.StdEncoding.EncodeToString(badPad), goodIV},
		{"the iv of other data", good, otherIV},
		{"bob's data posted with alice's token", bobData, bobIV},
		{"a watermark naming another app", otherApp, otherAppIV},
		{"no watermark", noAppID, noAppIDIV},
		{"a plaintext that is not JSON", notJSON, notJSONIV},
		{"a plaintext without phoneNumber", noPhone, noPhoneIV},
		{"empty-looking base64", "AAAA", goodIV},
	}
	var first []byte
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "POST", w.caddy.URL+"/wx/phone", tok, fmt.Sprintf(`{"encrypted_data":%q,"iv":%q}`, tc.data, tc.iv))
			wantError(t, r, http.StatusBadRequest, "decrypt_failed")
			if first == nil {
				first = r.Body
			}
			if !bytes.Equal(r.Body, first) {
				t.Fatalf("body %q differs from the first failure's %q: an oracle", r.Body, first)
			}
		})
	}
	if got := w.upstreamSees(t, tok, "/api/me").Get("X-Phone"); got != "" {
		t.Fatalf("after only failures alice has X-Phone %q", got)
	}
	// The good data still works: the failures changed nothing.
	r := do(t, "POST", w.caddy.URL+"/wx/phone", tok, fmt.Sprintf(`{"encrypted_data":%q,"iv":%q}`, good, goodIV))
	if r.Status != http.StatusOK {
		t.Fatalf("the good data after the failures: %d %s", r.Status, r.Body)
	}
	w.noSecretsLogged(t, "alice", "bob")
}

func TestRequirePhonePathsRefuseUntilAPhoneIsBound(t *testing.T) {
	w := newWorld(t, "") // the harness has require_phone /vip/*
	tok := w.login(t, "alice")

	before := len(w.upstream.requests())
	wantError(t, do(t, "GET", w.caddy.URL+"/vip/lounge", tok, ""), http.StatusForbidden, "phone_required")
	if n := len(w.upstream.requests()); n != before {
		t.Fatalf("upstream was contacted %d times for a refused request", n-before)
	}
	if r := do(t, "GET", w.caddy.URL+"/api/orders", tok, ""); r.Status != http.StatusOK {
		t.Fatalf("a path without require_phone: %d %s", r.Status, r.Body)
	}

	w.bindPhoneByCode(t, tok, "alice", "13800138000")
	if got := w.upstreamSees(t, tok, "/vip/lounge").Get("X-Phone"); got != "13800138000" {
		t.Fatalf("the require_phone path after binding: X-Phone %q", got)
	}
}

func TestConcurrentPhoneBindingsFetchTheAccessTokenOnce(t *testing.T) {
	w := newWorld(t, "")
	type job struct{ tok, code, phone string }
	var jobs []job
	for u := range 4 {
		user, phone := fmt.Sprintf("user%d", u), fmt.Sprintf("1380013800%d", u)
		tok := w.login(t, user)
		for range 25 {
			jobs = append(jobs, job{tok, w.mock.PhoneCode(user, phone), phone})
		}
	}
	if s := w.mock.Stats(); s.TokenFetches["stable_token"] != 0 {
		t.Fatalf("logins fetched an access_token: %v", s.TokenFetches)
	}

	results := make([]response, len(jobs))
	errs := make([]error, len(jobs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			<-start
			results[i], errs[i] = send("POST", w.caddy.URL+"/wx/phone", j.tok, fmt.Sprintf(`{"code":%q}`, j.code))
		})
	}
	close(start)
	wg.Wait()

	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte(`"phone_number":"`+jobs[i].phone+`"`)) {
			t.Fatalf("request %d: %d %s, want 200 with %s", i, r.Status, r.Body, jobs[i].phone)
		}
	}
	s := w.mock.Stats()
	if s.TokenFetches["stable_token"] != 1 || s.TokenFetches["token"] != 0 || s.TokensIssued["stable_token"] != 1 {
		t.Fatalf("100 concurrent bindings: token fetches %v, issued %v; want exactly one stable_token fetch",
			s.TokenFetches, s.TokensIssued)
	}
	if n := s.Calls[wxmock.PathGetUserPhoneNumber]; n != len(jobs) {
		t.Fatalf("getuserphonenumber was called %d times, want %d", n, len(jobs))
	}
}

func TestAnAccessTokenWeChatInvalidatedIsRefreshedOnceAndTheCallRetried(t *testing.T) {
	w := newWorld(t, "")
	tok := w.login(t, "alice")
	w.bindPhoneByCode(t, tok, "alice", "13800138000")
	if s := w.mock.Stats(); s.TokenFetches["stable_token"] != 1 {
		t.Fatalf("after one binding: %v token fetches, want 1", s.TokenFetches)
	}

	w.mock.InvalidateTokens()
	w.mock.Reset() // counters only
	r := w.bindPhoneByCode(t, tok, "alice", "13900139000")
	if r.JSON(t)["phone_number"] != "13900139000" {
		t.Fatalf("binding after the invalidation answered %s", r.Body)
	}
	s := w.mock.Stats()
	if s.TokenFetches["stable_token"] != 1 || s.TokensIssued["stable_token"] != 1 {
		t.Fatalf("after the invalidation: fetches %v, issued %v; want one more of each", s.TokenFetches, s.TokensIssued)
	}
	if n := s.Calls[wxmock.PathGetUserPhoneNumber]; n != 2 {
		t.Fatalf("getuserphonenumber was called %d times, want 2 (refused with 40001, then retried)", n)
	}

	w.bindPhoneByCode(t, tok, "alice", "13700137000")
	if s := w.mock.Stats(); s.TokenFetches["stable_token"] != 1 {
		t.Fatalf("the fresh token was not reused: %v fetches since the invalidation", s.TokenFetches)
	}
	if got := w.upstreamSees(t, tok, "/api/me").Get("X-Phone"); got != "13700137000" {
		t.Fatalf("upstream saw X-Phone %q, want the latest binding", got)
	}
}

func TestPhoneAnswersEveryFailureWithTheSpecError(t *testing.T) {
	w := newWorld(t, "")
	tok := w.login(t, "alice")
	w.login(t, "bob")
	code := func(c string) string { return fmt.Sprintf(`{"code":%q}`, c) }
	used := w.mock.PhoneCode("alice", "13800138000")
	if r := do(t, "POST", w.caddy.URL+"/wx/phone", tok, code(used)); r.Status != http.StatusOK {
		t.Fatalf("first use of a phone code: %d %s", r.Status, r.Body)
	}
	bobsCode := w.mock.PhoneCode("bob", "13900139000")

	tests := []struct {
		name   string
		method string
		token  string
		body   func() string
		status int
		code   string
	}{
		{"an unknown phone code (40029)", "POST", tok, func() string { return code("no-such-code") }, 401, "invalid_code"},
		{"a used phone code", "POST", tok, func() string { return code(used) }, 401, "invalid_code"},
		{"another user's phone code", "POST", tok, func() string { return code(bobsCode) }, 401, "invalid_code"},
		{"WeChat's frequency limit (45011)", "POST", tok, func() string {
			w.mock.Fail(wxmock.PathGetUserPhoneNumber, 45011, 1)
			return code(w.mock.PhoneCode("alice", "13800138000"))
		}, 429, "rate_limited"},
		{"a user WeChat blocked (40226)", "POST", tok, func() string {
			w.mock.Fail(wxmock.PathGetUserPhoneNumber, 40226, 1)
			return code(w.mock.PhoneCode("alice", "13800138000"))
		}, 403, "user_blocked"},
		{"WeChat busy on every retry", "POST", tok, func() string {
			w.mock.Fail(wxmock.PathGetUserPhoneNumber, -1, -1)
			return code(w.mock.PhoneCode("alice", "13800138000"))
		}, 502, "upstream_error"},
		{"no token", "POST", "", func() string { return code(w.mock.PhoneCode("alice", "13800138000")) }, 401, "unauthorized"},
		{"a forged token", "POST", tok[:len(tok)-4] + "AAAA", func() string { return code(w.mock.PhoneCode("alice", "13800138000")) }, 401, "unauthorized"},
		{"GET", "GET", tok, func() string { return "" }, 405, "method_not_allowed"},
		{"an empty object", "POST", tok, func() string { return `{}` }, 400, "invalid_request"},
		{"encrypted_data without iv", "POST", tok, func() string { return `{"encrypted_data":"AAAA"}` }, 400, "invalid_request"},
		{"malformed JSON", "POST", tok, func() string { return `{"code":` }, 400, "invalid_request"},
		{"a code that is not a string", "POST", tok, func() string { return `{"code":42}` }, 400, "invalid_request"},
		{"a body over 64 KiB", "POST", tok, func() string { return code(strings.Repeat("a", 70<<10)) }, 400, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w.mock.Fail(wxmock.PathGetUserPhoneNumber, 0, 0)
			r := do(t, tc.method, w.caddy.URL+"/wx/phone", tc.token, tc.body())
			if tc.status == http.StatusBadRequest && r.Status == http.StatusRequestEntityTooLarge {
				tc.status = r.Status // 413 is allowed too for a body over 64 KiB, with the same JSON error
			}
			wantError(t, r, tc.status, tc.code)
			if tc.code == "unauthorized" && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	w.mock.Fail(wxmock.PathGetUserPhoneNumber, 0, 0)

	// Refused for alice, bob's code was not burnt: WeChat checks the openid
	// before it marks the code used.
	bobTok := w.login(t, "bob")
	if r := do(t, "POST", w.caddy.URL+"/wx/phone", bobTok, code(bobsCode)); r.Status != http.StatusOK {
		t.Fatalf("bob's own code after alice tried it: %d %s", r.Status, r.Body)
	}
}

// noSecretsLogged fails if Caddy's log (at debug level in the harness) holds
// the AppSecret or a session_key any of users was given.
func (w *world) noSecretsLogged(t testing.TB, users ...string) {
	t.Helper()
	logs := w.caddy.logSoFar(t)
	if strings.Contains(logs, testSecret) {
		t.Fatal("Caddy's log holds the AppSecret")
	}
	for _, u := range users {
		for _, k := range w.mock.SessionKeys(u) {
			if strings.Contains(logs, k) {
				t.Fatalf("Caddy's log holds a session_key of %s", u)
			}
		}
	}
}

// bindPhoneByCode binds phone to user through /wx/phone with a fresh phone
// code; an empty phone uses 13800138000.
func (w *world) bindPhoneByCode(t testing.TB, tok, user, phone string) response {
	t.Helper()
	if phone == "" {
		phone = "13800138000"
	}
	r := do(t, "POST", w.caddy.URL+"/wx/phone", tok, fmt.Sprintf(`{"code":%q}`, w.mock.PhoneCode(user, phone)))
	if r.Status != http.StatusOK {
		t.Fatalf("binding %s to %s: %d %s", phone, user, r.Status, r.Body)
	}
	return r
}

// upstreamSees sends a GET with tok and returns the headers the upstream got.
func (w *world) upstreamSees(t testing.TB, tok, path string) http.Header {
	t.Helper()
	before := len(w.upstream.requests())
	if r := do(t, "GET", w.caddy.URL+path, tok, ""); r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	if len(w.upstream.requests()) != before+1 {
		t.Fatalf("GET %s did not reach the upstream", path)
	}
	return w.upstream.last(t)
}

// encryptedPhone is the legacy getPhoneNumber data for user's latest session_key.
func (w *world) encryptedPhone(t testing.TB, user, phone string) (data, iv string) {
	t.Helper()
	data, iv, err := w.mock.EncryptedPhone(user, phone)
	if err != nil {
		t.Fatal(err)
	}
	return data, iv
}

// encryptOpenData encrypts plain as WeChat's open data, for plaintexts the
// mock would never produce.
func encryptOpenData(t testing.TB, sessionKey string, plain []byte) (data, iv string) {
	t.Helper()
	block, err := aes.NewCipher(mustB64(t, sessionKey))
	if err != nil {
		t.Fatal(err)
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := append(bytes.Clone(plain), bytes.Repeat([]byte{byte(pad)}, pad)...)
	ivb := make([]byte, aes.BlockSize)
	rand.Read(ivb)
	cipher.NewCBCEncrypter(block, ivb).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), base64.StdEncoding.EncodeToString(ivb)
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// send is do for goroutines other than the test's: it returns its error.
func send(method, url, token, body string) (response, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}
