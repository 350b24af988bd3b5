package wxmock

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func phoneURL(tok string) string {
	return PathGetUserPhoneNumber + "?access_token=" + url.QueryEscape(tok)
}

func TestGetUserPhoneNumberAnswersTheDocumentedPhoneInfo(t *testing.T) {
	tests := []struct {
		name        string
		cfg         Config
		countryCode string
		wantPhone   string
		wantCC      any
	}{
		{"mainland number, countryCode as a string", Config{}, "86", "13800138000", "86"},
		{"countryCode as a number, as the docs show", Config{CountryCodeNumber: true}, "86", "13800138000", json.Number("86")},
		{"number abroad carries its country code", Config{}, "852", "+85261234567", "852"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := newTestServer(t, tt.cfg)
			pure := tt.wantPhone
			if tt.countryCode != "86" {
				pure = "61234567"
			}
			code := s.PhoneCodeWithCountry("alice", pure, tt.countryCode)
			minted := clock.Now()
			clock.Advance(time.Minute)
			tok := mustToken(t, stableToken(t, s, false))

			r := do(t, s, http.MethodPost, phoneURL(tok), map[string]string{"code": code, "openid": s.OpenID("alice")})
			if r.errcode() != 0 || r.str("errmsg") != "ok" {
				t.Fatalf("answer %v, want errcode 0 errmsg ok", r.body)
			}
			if _, ok := r.body["errcode"]; !ok {
				t.Errorf("success lacks the documented errcode 0")
			}
			info, _ := r.body["phone_info"].(map[string]any)
			wm, _ := info["watermark"].(map[string]any)
			checks := []struct {
				field     string
				got, want any
			}{
				{"phoneNumber", info["phoneNumber"], tt.wantPhone},
				{"purePhoneNumber", info["purePhoneNumber"], pure},
				{"countryCode", info["countryCode"], tt.wantCC},
				{"watermark.appid", wm["appid"], testAppID},
				{"watermark.timestamp", wm["timestamp"], json.Number(strconv.FormatInt(minted.Unix(), 10))},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
				}
			}
		})
	}
}

func TestGetUserPhoneNumberAnswersEachDocumentedError(t *testing.T) {
	s, clock := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))

	used := s.PhoneCode("alice", "13800138000")
	if got := do(t, s, http.MethodPost, phoneURL(tok), map[string]string{"code": used}).errcode(); got != 0 {
		t.Fatalf("first redemption answered %d", got)
	}
	expired := s.PhoneCode("alice", "13800138000")
	clock.Advance(5 * time.Minute)

	tests := []struct {
		name   string
		method string
		target string
		body   any
		want   int
	}{
		{"GET instead of POST", http.MethodGet, phoneURL(tok), nil, errRequirePOST},
		{"access_token missing", http.MethodPost, PathGetUserPhoneNumber, map[string]string{"code": "x"}, errAccessTokenMissing},
		{"body not JSON", http.MethodPost, phoneURL(tok), "code=abc", errDataFormat},
		{"body without a code", http.MethodPost, phoneURL(tok), map[string]string{}, errInvalidCode},
		{"code in the query string, {} as the body", http.MethodPost, phoneURL(tok) + "&code=" + s.PhoneCode("alice", "13800138000"), map[string]string{}, errInvalidCode},
		{"unknown code", http.MethodPost, phoneURL(tok), map[string]string{"code": "e31968a7f94cc5ee25fafc2aef2773f0bb8c3937b22520eb8ee345274d00c144"}, errInvalidCode},
		{"code already used", http.MethodPost, phoneURL(tok), map[string]string{"code": used}, errInvalidCode},
		{"code five minutes old", http.MethodPost, phoneURL(tok), map[string]string{"code": expired}, errInvalidCode},
		{"wx.login code instead of a phone code", http.MethodPost, phoneURL(tok), map[string]string{"code": s.Code("alice")}, errInvalidCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := do(t, s, tt.method, tt.target, tt.body).errcode(); got != tt.want {
				t.Errorf("errcode = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestGetUserPhoneNumberRejectsAnotherUsersCodeWithoutBurningIt(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	code := s.PhoneCode("alice", "13800138000")

	r := do(t, s, http.MethodPost, phoneURL(tok), map[string]string{"code": code, "openid": s.OpenID("mallory")})
	if r.errcode() != errInvalidCode {
		t.Fatalf("alice's code redeemed for mallory answered %v, want %d", r.body, errInvalidCode)
	}
	r = do(t, s, http.MethodPost, phoneURL(tok), map[string]string{"code": code, "openid": s.OpenID("alice")})
	if r.errcode() != 0 {
		t.Errorf("alice's own redemption after the mismatch answered %v", r.body)
	}
}

func TestGetUserPhoneNumberReadsTheCodeFromTheBodyOnly(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	code := s.PhoneCode("alice", "13800138000")

	r := do(t, s, http.MethodPost, phoneURL(tok)+"&code="+code, map[string]string{})
	if r.errcode() != errInvalidCode {
		t.Fatalf("{} with the code in the query string answered %v, want %d as WeChat does", r.body, errInvalidCode)
	}
	if msg := r.str("errmsg"); !strings.HasPrefix(msg, "invalid code hint: [") {
		t.Errorf("errmsg = %q, want WeChat's \"invalid code hint: [...] rid: ...\"", msg)
	}
	if r := do(t, s, http.MethodPost, phoneURL(tok), map[string]string{"code": code}); r.errcode() != 0 {
		t.Errorf("the code sent in the body afterwards answered %v; the query string must not have used it", r.body)
	}
}
