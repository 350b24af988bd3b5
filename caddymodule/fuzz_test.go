package caddymodule

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/wxauth/caddy-wxauth/wxmock"
)

// fuzzPaths are the endpoints that parse a client's JSON body.
var fuzzPaths = []string{"/wx/login", "/wx/phone", "/wx/profile"}

// specStatuses maps the README's error codes to the statuses they may have.
var specStatuses = map[string][]int{
	"invalid_request":    {400, 413},
	"method_not_allowed": {405},
	"unauthorized":       {401},
	"invalid_code":       {401},
	"decrypt_failed":     {400},
	"phone_required":     {403},
	"user_blocked":       {403},
	"rate_limited":       {429},
	"upstream_error":     {502},
	"store_unavailable":  {503},
}

// endpointFixture is a provisioned Handler in front of an in-process fake
// WeChat, with alice logged in.
type endpointFixture struct {
	h     *Handler
	mock  *wxmock.Server
	token string
}

const (
	fuzzAppID  = "wxf0220000000000ff"
	fuzzSecret = "fuzz-app-secret-do-not-leak"
)

func newEndpointFixture(tb testing.TB) *endpointFixture {
	tb.Helper()
	h, mock := provisionHandler(tb, wxmock.Config{AppID: fuzzAppID, AppSecret: fuzzSecret})
	fx := &endpointFixture{h: h, mock: mock}
	rec, called, err := fx.serve(http.MethodPost, "/wx/login", "", "application/json",
		[]byte(`{"code":"`+mock.Code("alice")+`"}`))
	if err != nil || called || rec.Code != http.StatusOK {
		tb.Fatalf("login: %v, next called %v, %d %s", err, called, rec.Code, rec.Body)
	}
	var login struct{ Token string }
	if err := json.Unmarshal(rec.Body.Bytes(), &login); err != nil || login.Token == "" {
		tb.Fatalf("login: no token in %s", rec.Body)
	}
	fx.token = login.Token
	return fx
}

// serve runs one request through the handler as Caddy would, with a
// replacer in the context, and reports whether the next handler was called.
func (fx *endpointFixture) serve(method, path, authorization, contentType string, body []byte) (*httptest.ResponseRecorder, bool, error) {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return serve(fx.h, r)
}

// serve runs r through h as Caddy would, with a replacer in the context,
// and reports whether the next handler was called.
func serve(h *Handler, r *http.Request) (*httptest.ResponseRecorder, bool, error) {
	rec, forwarded, err := serveForwarded(h, r)
	return rec, forwarded != nil, err
}

// serveForwarded runs h on r and returns the answer and the request h
// handed on (nil when it answered itself).
func serveForwarded(h *Handler, r *http.Request) (*httptest.ResponseRecorder, *http.Request, error) {
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	var forwarded *http.Request
	next := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		forwarded = r
		return nil
	})
	rec := httptest.NewRecorder()
	err := h.ServeHTTP(rec, r, next)
	return rec, forwarded, err
}

// expand replaces markers in a fuzz body with values minted now by the fake
// WeChat, so that seeds stay valid in every fuzzing process (each has its
// own fake, codes and session_keys) and mutations explore around real data:
// $CODE a wx.login code; $PHONECODE a getPhoneNumber code; $EDATA and $IV
// legacy phone data; $RAW, $SIG, $PDATA and $PIV legacy profile data.
func (fx *endpointFixture) expand(body []byte) []byte {
	if !bytes.Contains(body, []byte("$")) {
		return body
	}
	s := string(body)
	var pairs []string
	if strings.Contains(s, "$PHONECODE") {
		pairs = append(pairs, "$PHONECODE", fx.mock.PhoneCode("alice", "13800138000"))
	}
	if strings.Contains(s, "$CODE") {
		pairs = append(pairs, "$CODE", fx.mock.Code("alice"))
	}
	if strings.Contains(s, "$EDATA") || strings.Contains(s, "$IV") {
		data, iv, _ := fx.mock.EncryptedPhone("alice", "13800138000")
		pairs = append(pairs, "$EDATA", data, "$IV", iv)
	}
	if strings.Contains(s, "$RAW") || strings.Contains(s, "$SIG") || strings.Contains(s, "$PDATA") || strings.Contains(s, "$PIV") {
		raw, sig, data, iv, _ := fx.mock.EncryptedProfile("alice")
		quoted, _ := json.Marshal(raw)
		pairs = append(pairs, "$RAW", string(quoted[1:len(quoted)-1]), "$SIG", sig, "$PDATA", data, "$PIV", iv)
	}
	return []byte(strings.NewReplacer(pairs...).Replace(s))
}

// secrets are the byte strings no answer may ever contain: the AppSecret
// and every session_key the fake has issued, as text and as raw bytes.
func (fx *endpointFixture) secrets() [][]byte {
	out := [][]byte{[]byte(fuzzSecret)}
	for _, k := range fx.mock.SessionKeys("alice") {
		out = append(out, []byte(k))
		if raw, err := base64.StdEncoding.DecodeString(k); err == nil {
			out = append(out, raw)
		}
	}
	return out
}

// The fuzzer's seeds only explore around real data if their markers expand
// to data the endpoints accept.
func TestTheFuzzSeedsMarkersExpandToBodiesTheEndpointsAccept(t *testing.T) {
	fx := newEndpointFixture(t)
	tests := []struct{ path, body string }{
		{"/wx/login", `{"code":"$CODE"}`},
		{"/wx/phone", `{"code":"$PHONECODE"}`},
		{"/wx/phone", `{"encrypted_data":"$EDATA","iv":"$IV"}`},
		{"/wx/phone", `{"encryptedData":"$EDATA","iv":"$IV"}`},
		{"/wx/profile", `{"raw_data":"$RAW","signature":"$SIG","encrypted_data":"$PDATA","iv":"$PIV"}`},
		{"/wx/profile", `{"rawData":"$RAW","signature":"$SIG","encryptedData":"$PDATA","iv":"$PIV"}`},
	}
	for _, tc := range tests {
		t.Run(tc.path+" "+tc.body, func(t *testing.T) {
			rec, called, err := fx.serve(http.MethodPost, tc.path, "Bearer "+fx.token, "application/json", fx.expand([]byte(tc.body)))
			if err != nil || called || rec.Code != http.StatusOK {
				t.Fatalf("%v, next called %v, %d %s", err, called, rec.Code, rec.Body)
			}
			checkEndpointAnswer(t, rec, fx.secrets())
		})
	}
}

func FuzzEndpointBodies(f *testing.F) {
	fx := newEndpointFixture(f)

	const (
		login, phone, profile    = 0, 1, 2
		validToken, noToken, bad = 0, 3, 6 // added to the path index
	)
	seeds := []struct {
		which       uint8
		body, ctype string
	}{
		{login, `{"code":"$CODE"}`, "application/json"},
		{login, `{"code":"$CODE"}`, ""},
		{login, `{"code":"$CODE"}`, "application/json; charset=utf-8"},
		{login, `{"code":"no-such-code"}`, "application/json"},
		{login, `{"code":""}`, "application/json"},
		{login, `{"code":1}`, "application/json"},
		{login, `{"code":"a"}{"code":"b"}`, "application/json"},
		{login, `["code"]`, "application/json"},
		{login, `null`, "application/json"},
		{login, ``, "application/json"},
		{login, `{"code":"$CODE"}`, "text/plain"},
		{login, `{"code":"$CODE"}`, "application/json;;"},
		{phone + validToken, `{"code":"$PHONECODE"}`, "application/json"},
		{phone + validToken, `{"encrypted_data":"$EDATA","iv":"$IV"}`, "application/json"},
		{phone + validToken, `{"encryptedData":"$EDATA","iv":"$IV"}`, "application/json"},
		{phone + validToken, `{"encrypted_data":"$EDATA","iv":"AAAAAAAAAAAAAAAAAAAAAA=="}`, "application/json"},
		{phone + validToken, `{"encrypted_data":"$EDATA"}`, "application/json"},
		{phone + validToken, `{"encrypted_data":"$EDATA","iv":"$IV","code":"$PHONECODE"}`, "application/json"},
		{phone + validToken, `{}`, "application/json"},
		{phone + noToken, `{"code":"$PHONECODE"}`, "application/json"},
		{phone + bad, `{"code":"$PHONECODE"}`, "application/json"},
		{profile + validToken, `{"raw_data":"$RAW","signature":"$SIG","encrypted_data":"$PDATA","iv":"$PIV"}`, "application/json"},
		{profile + validToken, `{"rawData":"$RAW","signature":"$SIG","encryptedData":"$PDATA","iv":"$PIV"}`, "application/json"},
		{profile + validToken, `{"raw_data":"$RAW","signature":"0000","encrypted_data":"$PDATA","iv":"$PIV"}`, "application/json"},
		{profile + validToken, `{"raw_data":"$RAW","signature":"$SIG","encrypted_data":"$EDATA","iv":"$IV"}`, "application/json"},
		{profile + noToken, `{"raw_data":"$RAW","signature":"$SIG","encrypted_data":"$PDATA","iv":"$PIV"}`, "application/json"},
		{profile + bad, `{"raw_data":"x","signature":"y","encrypted_data":"z","iv":"w"}`, "application/json"},
	}
	for _, s := range seeds {
		f.Add(s.which, []byte(s.body), s.ctype)
	}

	f.Fuzz(func(t *testing.T, which uint8, body []byte, contentType string) {
		path := fuzzPaths[int(which)%len(fuzzPaths)]
		var authorization string
		switch (which / 3) % 3 {
		case 0:
			authorization = "Bearer " + fx.token
		case 2:
			authorization = "Bearer " + fx.token[:len(fx.token)/2] + "x" + fx.token[len(fx.token)/2+1:]
		}
		body = fx.expand(body)

		rec, called, err := fx.serve(http.MethodPost, path, authorization, contentType, body)
		if err != nil {
			t.Fatalf("ServeHTTP returned %v; the handler writes its own errors", err)
		}
		if called {
			t.Fatalf("POST %s reached the next handler", path)
		}
		checkEndpointAnswer(t, rec, fx.secrets())
	})
}

// checkEndpointAnswer holds an endpoint's answer to the contract: a JSON object,
// an error body with its status when the status is 400 or more, and never
// a secret.
func checkEndpointAnswer(t *testing.T, rec *httptest.ResponseRecorder, secrets [][]byte) {
	t.Helper()
	body := rec.Body.Bytes()
	for _, s := range secrets {
		if bytes.Contains(body, s) {
			t.Fatalf("the answer contains a secret: %s", body)
		}
		for name, vs := range rec.Header() {
			for _, v := range vs {
				if strings.Contains(v, string(s)) {
					t.Fatalf("header %s contains a secret", name)
				}
			}
		}
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("status %d with Content-Type %q, want application/json; body %q", rec.Code, ct, body)
	}
	var answer map[string]any
	if err := json.Unmarshal(body, &answer); err != nil {
		t.Fatalf("status %d with a body that is not a JSON object (%v): %q", rec.Code, err, body)
	}
	if rec.Code == http.StatusOK {
		if _, isError := answer["error"]; isError {
			t.Fatalf("200 with an error body: %s", body)
		}
		return
	}
	code, _ := answer["error"].(string)
	statuses, known := specStatuses[code]
	if !known {
		t.Fatalf("status %d with error %q, not one of the README's: %s", rec.Code, code, body)
	}
	if !slices.Contains(statuses, rec.Code) {
		t.Fatalf("error %q with status %d, the README says %v", code, rec.Code, statuses)
	}
	if msg, _ := answer["message"].(string); msg == "" {
		t.Fatalf("error %q without a message: %s", code, body)
	}
	if rec.Code == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("401 without WWW-Authenticate: Bearer")
	}
}
