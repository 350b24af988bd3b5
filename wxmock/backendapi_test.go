package wxmock

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Helpers and cross-cutting tests for the server APIs a backend calls with
// an access_token: msg_sec_check, getwxacodeunlimit, media/upload,
// getcallbackip and subscribe/send.

func withToken(path, tok string, extra ...string) string {
	q := url.Values{}
	if tok != "" {
		q.Set("access_token", tok)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// serve sends req to h in-process and returns the raw answer.
func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func jsonRequest(method, target string, body any) *http.Request {
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			panic(err)
		}
	}
	req := httptest.NewRequest(method, target, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// filePart is one part of a multipart body; a part without a filename is a
// form field.
type filePart struct {
	field, filename, contentType string
	data                         []byte
}

func multipartRequest(t *testing.T, target string, parts ...filePart) *http.Request {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		h := make(map[string][]string)
		disp := `form-data; name="` + p.field + `"`
		if p.filename != "" {
			disp += `; filename="` + p.filename + `"`
		}
		h["Content-Disposition"] = []string{disp}
		if p.contentType != "" {
			h["Content-Type"] = []string{p.contentType}
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(p.data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, target, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return req
}

// answer is a decoded JSON answer, or an image.
type answer struct {
	rec   *httptest.ResponseRecorder
	body  map[string]any // nil for an image
	image []byte
}

func (a answer) errcode() int { return reply{body: a.body}.errcode() }

func (a answer) str(key string) string { return reply{body: a.body}.str(key) }

// call serves req and decodes the answer: JSON under application/json, or
// the bytes of an image/jpeg. Anything else fails the test.
func call(t *testing.T, h http.Handler, req *http.Request) answer {
	t.Helper()
	rec := serve(h, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d, want 200 as WeChat answers even errors", req.Method, req.URL.Path, rec.Code)
	}
	a := answer{rec: rec}
	switch ct := rec.Header().Get("Content-Type"); ct {
	case "image/jpeg":
		a.image = rec.Body.Bytes()
	case "application/json":
		dec := json.NewDecoder(rec.Body)
		dec.UseNumber()
		if err := dec.Decode(&a.body); err != nil {
			t.Fatalf("%s: decoding answer: %v", req.URL.Path, err)
		}
	default:
		t.Fatalf("%s: Content-Type %q, want application/json or image/jpeg", req.URL.Path, ct)
	}
	return a
}

// goodBackendCalls returns one well-formed request to each backend API for
// the default app, built with tok; each succeeds with a good token. alice is
// a user of the default app.
func goodBackendCalls(t *testing.T, s *Server) map[string]func(tok string) *http.Request {
	t.Helper()
	alice := s.OpenID("alice")
	return map[string]func(string) *http.Request{
		PathMsgSecCheck: func(tok string) *http.Request {
			return jsonRequest(http.MethodPost, withToken(PathMsgSecCheck, tok),
				map[string]any{"content": "hello", "version": 2, "scene": 2, "openid": alice})
		},
		PathGetWXACodeUnlimit: func(tok string) *http.Request {
			return jsonRequest(http.MethodPost, withToken(PathGetWXACodeUnlimit, tok),
				map[string]any{"scene": "id=42", "page": "pages/item/item"})
		},
		PathMediaUpload: func(tok string) *http.Request {
			return multipartRequest(t, withToken(PathMediaUpload, tok, "type", "image"),
				filePart{field: "media", filename: "a.png", contentType: "image/png", data: []byte("\x89PNG\r\n\x1a\nfake")})
		},
		PathGetCallbackIP: func(tok string) *http.Request {
			return httptest.NewRequest(http.MethodGet, withToken(PathGetCallbackIP, tok), nil)
		},
		PathSubscribeSend: func(tok string) *http.Request {
			return jsonRequest(http.MethodPost, withToken(PathSubscribeSend, tok), map[string]any{
				"touser": alice, "template_id": "t7jHOgnrU4zbr8VFuQdA7LPjSplAQSlH5GHYtp6mXsk",
				"data": map[string]any{"thing1": map[string]string{"value": "hi"}},
			})
		},
	}
}

func TestEveryBackendAPISucceedsWithAGoodToken(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	for path, req := range goodBackendCalls(t, s) {
		t.Run(path, func(t *testing.T) {
			if a := call(t, s, req(tok)); a.errcode() != 0 {
				t.Errorf("answer %v, want success", a.body)
			}
		})
	}
}

func TestEveryBackendAPIChecksTheAccessTokenAsWeChatDoes(t *testing.T) {
	tests := []struct {
		name  string
		token func(t *testing.T, s *Server, a *AppHandle) string
		want  int
	}{
		{"a missing token answers 41001", func(*testing.T, *Server, *AppHandle) string { return "" }, errAccessTokenMissing},
		{"a token that cannot be one answers 40014", func(*testing.T, *Server, *AppHandle) string { return "not a token!" }, errInvalidAccessToken},
		{"an unknown token answers 40001", func(*testing.T, *Server, *AppHandle) string { return "91_" + strings.Repeat("A", 40) }, errInvalidCredential},
		{"an invalidated token answers 40001", func(t *testing.T, s *Server, a *AppHandle) string {
			tok := mustToken(t, stableToken(t, s, false))
			a.InvalidateTokens()
			return tok
		}, errInvalidCredential},
		{"an expired token answers 42001", func(t *testing.T, s *Server, _ *AppHandle) string {
			return mustToken(t, stableToken(t, s, false))
		}, errAccessTokenExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := newTestServer(t, Config{})
			tok := tt.token(t, s, s.App(testAppID))
			if tt.want == errAccessTokenExpired {
				clock.Advance(2*time.Hour + time.Second)
			}
			for path, req := range goodBackendCalls(t, s) {
				a := call(t, s, req(tok))
				if a.errcode() != tt.want {
					t.Errorf("%s answered %v, want errcode %d", path, a.body, tt.want)
				}
			}
			if n := len(s.Sent()) + len(s.Uploads()); n != 0 {
				t.Errorf("refused calls left %d records", n)
			}
		})
	}
}

func TestEveryBackendAPICanBeMadeToRefuseAGoodTokenOnceAndCountsBothCalls(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	for path, req := range goodBackendCalls(t, s) {
		t.Run(path, func(t *testing.T) {
			s.Fail(path, errInvalidCredential, 1)
			first := call(t, s, req(tok))
			if first.errcode() != errInvalidCredential || first.rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("first call answered %v (%s), want the injected 40001 as JSON", first.body, first.rec.Header().Get("Content-Type"))
			}
			if again := call(t, s, req(tok)); again.errcode() != 0 {
				t.Errorf("the retry with the same token answered %v, want success", again.body)
			}
			if n := s.Stats().Calls[path]; n != 2 {
				t.Errorf("Calls[%s] = %d, want 2", path, n)
			}
		})
	}
	if n := len(s.Sent()); n != 1 {
		t.Errorf("%d messages recorded, want only the retry's", n)
	}
	if n := len(s.Uploads()); n != 1 {
		t.Errorf("%d uploads recorded, want only the retry's", n)
	}
}

func TestEveryBackendAPIIsAFailablePathCountedFromZero(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	st := s.Stats()
	for _, path := range []string{PathMsgSecCheck, PathGetWXACodeUnlimit, PathMediaUpload, PathGetCallbackIP, PathSubscribeSend} {
		if n, ok := st.Calls[path]; !ok || n != 0 {
			t.Errorf("Stats().Calls[%s] = %d, %t; want a zero entry", path, n, ok)
		}
		if err := checkAPIPath(path); err != nil {
			t.Errorf("Fail would refuse %s: %v", path, err)
		}
	}
}

func TestBackendAPIsActForTheAppTheTokenWasIssuedTo(t *testing.T) {
	s := newTwoAppServer(t)
	shop := s.App(otherAppID)
	tokA, tokB := appToken(t, s, testAppID), appToken(t, s, otherAppID)
	aliceA, aliceB := s.OpenID("alice"), shop.OpenID("alice")

	t.Run("subscribe/send to another app's openid answers 40003", func(t *testing.T) {
		a := call(t, s, jsonRequest(http.MethodPost, withToken(PathSubscribeSend, tokB), map[string]any{
			"touser": aliceA, "template_id": "tmpl", "data": map[string]any{"thing1": map[string]string{"value": "x"}},
		}))
		if a.errcode() != errInvalidOpenID {
			t.Errorf("answer %v, want 40003", a.body)
		}
	})
	t.Run("subscribe/send is recorded for the token's app", func(t *testing.T) {
		a := call(t, s, jsonRequest(http.MethodPost, withToken(PathSubscribeSend, tokB), map[string]any{
			"touser": aliceB, "template_id": "tmpl", "data": map[string]any{"thing1": map[string]string{"value": "x"}},
		}))
		if a.errcode() != 0 {
			t.Fatalf("answer %v", a.body)
		}
		if got := shop.Sent(); len(got) != 1 || got[0].AppID != otherAppID || got[0].ToUser != aliceB {
			t.Errorf("shop.Sent() = %+v", got)
		}
		if got := s.App(testAppID).Sent(); len(got) != 0 {
			t.Errorf("the default app has messages it did not send: %+v", got)
		}
	})
	t.Run("msg_sec_check with another app's openid answers 43104", func(t *testing.T) {
		a := call(t, s, jsonRequest(http.MethodPost, withToken(PathMsgSecCheck, tokA),
			map[string]any{"content": "hi", "version": 2, "scene": 1, "openid": aliceB}))
		if a.errcode() != errOpenIDOfOtherApp {
			t.Errorf("answer %v, want 43104", a.body)
		}
	})
	t.Run("getwxacodeunlimit draws the token's app's code", func(t *testing.T) {
		a := call(t, s, jsonRequest(http.MethodPost, withToken(PathGetWXACodeUnlimit, tokB), map[string]any{"scene": "x=1"}))
		info, err := DecodeWXACode(a.image)
		if err != nil || info.AppID != otherAppID {
			t.Errorf("code made for %+v (%v), want app %s", info, err, otherAppID)
		}
		if !bytes.Equal(a.image, shop.WXACode("x=1", "", 0)) || bytes.Equal(a.image, s.WXACode("x=1", "", 0)) {
			t.Errorf("image is not shop.WXACode's")
		}
	})
	t.Run("media/upload is recorded for the token's app", func(t *testing.T) {
		a := call(t, s, multipartRequest(t, withToken(PathMediaUpload, tokB, "type", "image"),
			filePart{field: "media", filename: "x.jpg", data: []byte("jpeg")}))
		if a.errcode() != 0 {
			t.Fatalf("answer %v", a.body)
		}
		if got := shop.Uploads(); len(got) != 1 || got[0].MediaID != a.str("media_id") {
			t.Errorf("shop.Uploads() = %+v", got)
		}
		if got := s.App(testAppID).Uploads(); len(got) != 0 {
			t.Errorf("the default app has uploads it did not make: %+v", got)
		}
	})
}

func TestANamedUserIsAUserOfThatAppOnly(t *testing.T) {
	s := newTwoAppServer(t)
	shop := s.App(otherAppID)
	tests := []struct {
		name   string
		openid func() string
		want   int
	}{
		{"OpenID makes a user", func() string { return s.OpenID("bob") }, 0},
		{"minting a code makes a user", func() string { s.Code("carol"); return openID(testAppID, "carol") }, 0},
		{"minting a phone code makes a user", func() string { s.PhoneCode("dave", "1"); return openID(testAppID, "dave") }, 0},
		{"a user nobody named is unknown", func() string { return openID(testAppID, "erin") }, errInvalidOpenID},
		{"a user of the other app is not one of this app", func() string { shop.Code("frank"); return openID(testAppID, "frank") }, errInvalidOpenID},
		{"an empty openid is invalid", func() string { return "" }, errInvalidOpenID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			openid := tt.openid()
			s.mu.Lock()
			got := s.App(testAppID).userOf(openid, false)
			s.mu.Unlock()
			if got != tt.want {
				t.Errorf("userOf = %d, want %d", got, tt.want)
			}
		})
	}
}
