package wxmock

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// httpCall talks to a real listening server, as a test in another language
// or curl would.
func httpCall(t *testing.T, srv *httptest.Server, method, path, body string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatalf("building request: %v", err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	r := decodeReply(t, req.URL.Path, resp.StatusCode, resp.Header, resp.Body)
	if resp.StatusCode == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
		t.Errorf("405 without an Allow header")
	}
	return r
}

func TestControlEndpointsDriveAWholeLoginOverHTTP(t *testing.T) {
	s, _ := newTestServer(t, Config{UnionID: true})
	srv := httptest.NewServer(s)
	defer srv.Close()

	code := httpCall(t, srv, http.MethodGet, "/mock/code?user=alice", "")
	if code.status != http.StatusOK || code.str("code") == "" || code.str("openid") != s.OpenID("alice") {
		t.Fatalf("/mock/code answered %d %v", code.status, code.body)
	}
	sess := httpCall(t, srv, http.MethodGet, sessionURL(testAppID, testSecret, code.str("code"), "authorization_code"), "")
	if sess.str("openid") != code.str("openid") || sess.str("unionid") != s.UnionID("alice") {
		t.Fatalf("jscode2session answered %v", sess.body)
	}

	tok := mustToken(t, httpCall(t, srv, http.MethodPost, PathStableToken,
		`{"grant_type":"client_credential","appid":"`+testAppID+`","secret":"`+testSecret+`"}`))
	q := url.Values{"access_token": {tok}, "openid": {sess.str("openid")},
		"signature": {sessionSignature(sess.str("session_key"), "")}, "sig_method": {"hmac_sha256"}}
	if r := httpCall(t, srv, http.MethodGet, PathCheckSession+"?"+q.Encode(), ""); r.errcode() != 0 {
		t.Errorf("checksession answered %v", r.body)
	}

	pc := httpCall(t, srv, http.MethodGet, "/mock/phonecode?user=alice&phone=13800138000", "")
	phone := httpCall(t, srv, http.MethodPost, phoneURL(tok), `{"code":"`+pc.str("code")+`"}`)
	if info, _ := phone.body["phone_info"].(map[string]any); info["purePhoneNumber"] != "13800138000" {
		t.Errorf("getuserphonenumber answered %v", phone.body)
	}

	ep := httpCall(t, srv, http.MethodGet, "/mock/encrypted_phone?user=alice&phone=13800138000", "")
	if plain, err := decryptOpenData(sess.str("session_key"), ep.str("encryptedData"), ep.str("iv")); err != nil || !json.Valid(plain) {
		t.Errorf("/mock/encrypted_phone data does not decrypt: %v", err)
	}
	prof := httpCall(t, srv, http.MethodGet, "/mock/encrypted_profile?user=alice", "")
	if prof.str("signature") != rawDataSignature(prof.str("rawData"), sess.str("session_key")) || prof.str("encryptedData") == "" || prof.str("iv") == "" {
		t.Errorf("/mock/encrypted_profile answered %v", prof.body)
	}

	stats := httpCall(t, srv, http.MethodGet, "/mock/stats", "")
	var st Stats
	raw, _ := json.Marshal(stats.body)
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("/mock/stats shape: %v", err)
	}
	if st.TokenFetches["stable_token"] != 1 || st.Calls[PathJSCode2Session] != 1 || st.Calls[PathCheckSession] != 1 {
		t.Errorf("/mock/stats = %s", raw)
	}
}

func TestControlEndpointsChangeTheFakesBehaviour(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	redeem := func(code string) int {
		return httpCall(t, srv, http.MethodGet, sessionURL(testAppID, testSecret, code, "authorization_code"), "").errcode()
	}

	t.Run("a code minted with an errcode answers it", func(t *testing.T) {
		code := httpCall(t, srv, http.MethodGet, "/mock/code?user=mallory&errcode=40226", "").str("code")
		if got := redeem(code); got != errCodeBlocked {
			t.Errorf("errcode = %d, want %d", got, errCodeBlocked)
		}
	})
	t.Run("fail injects faults and reset clears them", func(t *testing.T) {
		if r := httpCall(t, srv, http.MethodPost, "/mock/fail", `{"path":"/sns/jscode2session","errcode":-1,"times":-1}`); r.status != http.StatusNoContent {
			t.Fatalf("/mock/fail status = %d %v", r.status, r.body)
		}
		code := s.Code("alice")
		if got := redeem(code); got != errSystemBusy {
			t.Errorf("errcode under fault = %d, want -1", got)
		}
		if r := httpCall(t, srv, http.MethodPost, "/mock/reset", ""); r.status != http.StatusNoContent {
			t.Fatalf("/mock/reset status = %d", r.status)
		}
		if got := redeem(code); got != 0 {
			t.Errorf("errcode after reset = %d, want 0", got)
		}
		if calls := s.Stats().Calls[PathJSCode2Session]; calls != 1 {
			t.Errorf("calls after reset = %d, want only the one since", calls)
		}
	})
	t.Run("invalidate_tokens kills the current token", func(t *testing.T) {
		tok := mustToken(t, stableToken(t, s, false))
		if r := httpCall(t, srv, http.MethodPost, "/mock/invalidate_tokens", ""); r.status != http.StatusNoContent {
			t.Fatalf("/mock/invalidate_tokens status = %d", r.status)
		}
		if got := useToken(t, s, tok); got != errInvalidCredential {
			t.Errorf("token after invalidation answers %d", got)
		}
	})
	t.Run("phonecode takes a country code", func(t *testing.T) {
		code := httpCall(t, srv, http.MethodGet, "/mock/phonecode?user=alice&phone=61234567&country_code=852", "").str("code")
		tok := mustToken(t, stableToken(t, s, false))
		info, _ := httpCall(t, srv, http.MethodPost, phoneURL(tok), `{"code":"`+code+`"}`).body["phone_info"].(map[string]any)
		if info["countryCode"] != "852" || info["phoneNumber"] != "+85261234567" {
			t.Errorf("phone_info = %v", info)
		}
	})
}

func TestControlEndpointsRejectMistakesWithAnExplanation(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	tests := []struct {
		name         string
		method, path string
		body         string
		want         int
	}{
		{"code without user", http.MethodGet, "/mock/code", "", http.StatusBadRequest},
		{"code with a non-numeric errcode", http.MethodGet, "/mock/code?user=a&errcode=busy", "", http.StatusBadRequest},
		{"phonecode without phone", http.MethodGet, "/mock/phonecode?user=a", "", http.StatusBadRequest},
		{"phonecode with a bad country code", http.MethodGet, "/mock/phonecode?user=a&phone=1&country_code=%2B86", "", http.StatusBadRequest},
		{"fail with a body that is not JSON", http.MethodPost, "/mock/fail", "path=/sns/jscode2session", http.StatusBadRequest},
		{"fail on an unknown path", http.MethodPost, "/mock/fail", `{"path":"/sns/nope","errcode":-1,"times":1}`, http.StatusBadRequest},
		{"encrypted_phone for a user who never logged in", http.MethodGet, "/mock/encrypted_phone?user=ghost&phone=1", "", http.StatusConflict},
		{"encrypted_profile without user", http.MethodGet, "/mock/encrypted_profile", "", http.StatusBadRequest},
		{"encrypted_profile for a user who never logged in", http.MethodGet, "/mock/encrypted_profile?user=ghost", "", http.StatusConflict},
		{"fail by GET", http.MethodGet, "/mock/fail", "", http.StatusMethodNotAllowed},
		{"code by POST", http.MethodPost, "/mock/code?user=a", "", http.StatusMethodNotAllowed},
		{"unknown path", http.MethodGet, "/cgi-bin/nope", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httpCall(t, srv, tt.method, tt.path, tt.body)
			if r.status != tt.want {
				t.Errorf("status = %d, want %d (%v)", r.status, tt.want, r.body)
			}
			if r.str("error") == "" && r.str("errmsg") == "" {
				t.Errorf("answer %v explains nothing", r.body)
			}
		})
	}
}

func TestControlEndpointsListSentMessagesAndUploadsPerApp(t *testing.T) {
	s := newTwoAppServer(t)
	srv := httptest.NewServer(s)
	defer srv.Close()
	shop := s.App(otherAppID)

	list := func(path string) []map[string]any {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var v []map[string]any
		dec := json.NewDecoder(resp.Body)
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return v
	}
	if got := list("/mock/sent"); got == nil || len(got) != 0 {
		t.Errorf("/mock/sent before any message = %v, want []", got)
	}
	if got := list("/mock/uploads"); got == nil || len(got) != 0 {
		t.Errorf("/mock/uploads before any upload = %v, want []", got)
	}

	tokShop := appToken(t, s, otherAppID)
	send := call(t, s, jsonRequest(http.MethodPost, withToken(PathSubscribeSend, tokShop), map[string]any{
		"touser": shop.OpenID("alice"), "template_id": "tmpl", "data": map[string]any{"thing1": map[string]string{"value": "x"}}}))
	up := call(t, s, multipartRequest(t, withToken(PathMediaUpload, tokShop, "type", "image"),
		filePart{field: "media", filename: "a.png", data: []byte("png")}))

	for _, path := range []string{"/mock/sent", "/mock/sent?appid=" + otherAppID} {
		if got := list(path); len(got) != 1 || got[0]["msgid"] != send.body["msgid"] || got[0]["appid"] != otherAppID {
			t.Errorf("%s = %v, want the shop's message with msgid %v", path, got, send.body["msgid"])
		}
	}
	for _, path := range []string{"/mock/uploads", "/mock/uploads?appid=" + otherAppID} {
		if got := list(path); len(got) != 1 || got[0]["media_id"] != up.str("media_id") || got[0]["size"] != json.Number("3") {
			t.Errorf("%s = %v, want the shop's upload", path, got)
		}
	}
	if got := list("/mock/sent?appid=" + testAppID); len(got) != 0 {
		t.Errorf("/mock/sent for the default app = %v, want []", got)
	}
	if r := httpCall(t, srv, http.MethodGet, "/mock/uploads?appid=wxnope", ""); r.status != http.StatusBadRequest {
		t.Errorf("/mock/uploads for an unknown app answered %d", r.status)
	}
}
