package wxapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/wechat"
)

// fakeTokens hands out tok1, then tok2 once tok1 was invalidated.
type fakeTokens struct {
	mu          sync.Mutex
	stuck       bool // Invalidate leaves the current token
	current     string
	invalidated []string
	forced      int
}

func (f *fakeTokens) AccessToken(context.Context) (wechat.AccessToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return wechat.AccessToken{Token: f.current, Expiry: time.Now().Add(time.Hour)}, nil
}

func (f *fakeTokens) ForceRefresh(context.Context) (wechat.AccessToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forced++
	f.current += "-forced"
	return wechat.AccessToken{Token: f.current, Expiry: time.Now().Add(2 * time.Hour)}, nil
}

func (f *fakeTokens) Invalidate(_ context.Context, bad string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invalidated = append(f.invalidated, bad)
	if f.current == bad && !f.stuck {
		f.current = "tok2"
	}
	return nil
}

// seen is one request as WeChat received it.
type seen struct {
	method, path, contentType string
	query                     url.Values
	body                      []byte
}

// world is a Proxy for two accounts in front of a fake WeChat that answers
// with reply and records what it receives.
type world struct {
	proxy      *Proxy
	shop, game *fakeTokens
	mu         sync.Mutex
	received   []seen
	reply      func(w http.ResponseWriter, r *http.Request, n int)
}

func newWorld(t *testing.T) *world {
	w := &world{shop: &fakeTokens{current: "tok1"}, game: &fakeTokens{current: "game-tok"}}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.received = append(w.received, seen{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.URL.Query(), body})
		n := len(w.received)
		w.mu.Unlock()
		w.reply(rw, r, n)
	}))
	t.Cleanup(srv.Close)
	w.proxy = &Proxy{HTTPClient: srv.Client(), MaxBody: 1 << 10, Accounts: []*Account{
		{AppID: "wxshop", BaseURL: srv.URL, AppSecret: "shop-secret", Tokens: w.shop},
		{AppID: "wxgame", BaseURL: srv.URL, AppSecret: "game-secret", Tokens: w.game},
	}}
	return w
}

func (w *world) call(method, target, contentType string, body []byte) (*httptest.ResponseRecorder, Call) {
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	return rec, w.proxy.ServeHTTP(rec, r)
}

func TestACallGoesToWeChatWithTheSharedTokenAndItsAnswerComesBackAsItWas(t *testing.T) {
	w := newWorld(t)
	image := []byte("\xff\xd8\xff\xe0 not really a jpeg \x00\x01")
	w.reply = func(rw http.ResponseWriter, r *http.Request, _ int) {
		rw.Header().Set("Content-Type", "image/jpeg")
		rw.Header().Set("Connection", "close")
		rw.Write(image)
	}
	body := []byte(`{"scene":"a=1","page":"pages/index/index"}`)
	rec, call := w.call("POST", "/wxa/getwxacodeunlimit?access_token=mine&cloudbase_access_token=cb&keep=1", "application/json", body)
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), image) || rec.Header().Get("Content-Type") != "image/jpeg" {
		t.Fatalf("answer %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
	}
	if rec.Header().Get("Connection") != "" {
		t.Fatal("a hop-by-hop header came back")
	}
	got := w.received[0]
	want := url.Values{"access_token": {"tok1"}, "keep": {"1"}}
	if got.method != "POST" || got.path != "/wxa/getwxacodeunlimit" || got.query.Encode() != want.Encode() ||
		!bytes.Equal(got.body, body) || got.contentType != "application/json" {
		t.Fatalf("WeChat received %+v", got)
	}
	if call.AppID != "wxshop" || call.Outcome != "ok" || call.Retried {
		t.Fatalf("call = %+v", call)
	}
}

func TestThePathCalledIsThePathResolvedAsTheAllowListJudgedIt(t *testing.T) {
	w := newWorld(t)
	w.reply = func(rw http.ResponseWriter, r *http.Request, _ int) { io.WriteString(rw, `{"errcode":0}`) }
	for target, want := range map[string]string{
		"/cgi-bin/x/../../wxa/msg_sec_check":       "/wxa/msg_sec_check",
		"//wxa//msg_sec_check":                     "/wxa/msg_sec_check",
		"/wxa/a%2F..%2F..%2Fcgi-bin/getcallbackip": "/cgi-bin/getcallbackip",
	} {
		w.received = nil
		w.call("GET", target, "", nil)
		if len(w.received) != 1 || w.received[0].path != want {
			t.Errorf("%s reached WeChat as %+v, want %s", target, w.received, want)
		}
	}
}

func TestARefusedTokenIsInvalidatedOnceAndTheCallRetriedWithTheSameBody(t *testing.T) {
	for _, errcode := range []int{40001, 40014, 42001} {
		t.Run(fmt.Sprint(errcode), func(t *testing.T) {
			w := newWorld(t)
			w.reply = func(rw http.ResponseWriter, r *http.Request, n int) {
				rw.Header().Set("Content-Type", "application/json; charset=utf-8")
				if n == 1 {
					json.NewEncoder(rw).Encode(map[string]any{"errcode": errcode, "errmsg": "invalid credential"})
					return
				}
				io.WriteString(rw, `{"errcode":0,"errmsg":"ok","msgid":7}`)
			}
			body := []byte(`{"touser":"o1","template_id":"t"}`)
			rec, call := w.call("POST", "/cgi-bin/message/subscribe/send", "application/json", body)
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"msgid":7`) || !call.Retried || call.Outcome != "ok" {
				t.Fatalf("%d %s %+v", rec.Code, rec.Body, call)
			}
			if len(w.received) != 2 || !bytes.Equal(w.received[1].body, body) || w.received[1].query.Get("access_token") != "tok2" {
				t.Fatalf("WeChat received %+v", w.received)
			}
			if len(w.shop.invalidated) != 1 || w.shop.invalidated[0] != "tok1" {
				t.Fatalf("invalidated %v, want [tok1]", w.shop.invalidated)
			}
		})
	}
}

func TestASecondRefusalIsAnsweredAsItIsWithoutALoop(t *testing.T) {
	w := newWorld(t)
	w.reply = func(rw http.ResponseWriter, r *http.Request, _ int) {
		rw.Header().Set("Content-Type", "text/plain") // WeChat labels some JSON so
		io.WriteString(rw, `{"errcode":40001,"errmsg":"invalid credential"}`)
	}
	rec, call := w.call("GET", "/cgi-bin/getcallbackip", "", nil)
	if len(w.received) != 2 || !strings.Contains(rec.Body.String(), "40001") || call.Outcome != "40001" {
		t.Fatalf("%d calls to WeChat, answer %s, %+v", len(w.received), rec.Body, call)
	}
}

func TestARedirectFromWeChatIsA502AndCarriesNothingToTheCaller(t *testing.T) {
	w := newWorld(t)
	w.reply = func(rw http.ResponseWriter, r *http.Request, _ int) {
		http.SetCookie(rw, &http.Cookie{Name: "s", Value: "v"})
		http.Redirect(rw, r, r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}
	rec, call := w.call("POST", "/wxa/msg_sec_check", "application/json", []byte(`{}`))
	if rec.Code != 502 || rec.Header().Get("Location") != "" || rec.Header().Get("Set-Cookie") != "" ||
		strings.Contains(rec.Body.String(), "tok1") || call.Outcome != "unreachable" {
		t.Fatalf("%d %v %s %+v", rec.Code, rec.Header(), rec.Body, call)
	}
}

func TestWhenNoFreshTokenCanBeHadWeChatsRefusalIsAnsweredWithoutASecondCall(t *testing.T) {
	w := newWorld(t)
	w.shop.current = "stuck" // Invalidate cannot replace it: forced refreshes are rationed
	w.shop.stuck = true
	w.reply = func(rw http.ResponseWriter, r *http.Request, _ int) {
		rw.Header().Set("Content-Type", "application/json")
		io.WriteString(rw, `{"errcode":40001,"errmsg":"invalid credential"}`)
	}
	rec, call := w.call("GET", "/sns/userinfo", "", nil)
	if len(w.received) != 1 || !strings.Contains(rec.Body.String(), "40001") || call.Outcome != "40001" {
		t.Fatalf("%d calls to WeChat, answer %s, %+v", len(w.received), rec.Body, call)
	}
}

func TestFromAppIDPicksAnotherAccountAndNeverReachesWeChat(t *testing.T) {
	w := newWorld(t)
	w.reply = func(rw http.ResponseWriter, r *http.Request, _ int) { io.WriteString(rw, `{"errcode":0}`) }
	if _, call := w.call("GET", "/cgi-bin/getcallbackip?from_appid=wxgame", "", nil); call.AppID != "wxgame" {
		t.Fatalf("call = %+v", call)
	}
	if q := w.received[0].query; q.Get("access_token") != "game-tok" || q.Has("from_appid") {
		t.Fatalf("WeChat received %v", q)
	}
	rec, _ := w.call("GET", "/cgi-bin/getcallbackip?from_appid=wxother", "", nil)
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), `"errcode":40013`) || len(w.received) != 1 {
		t.Fatalf("an unknown from_appid: %d %s", rec.Code, rec.Body)
	}
}

func TestABodyOverMaxBodyAndAnUnreachableWeChatAreAnsweredInWeChatsShape(t *testing.T) {
	w := newWorld(t)
	w.reply = func(rw http.ResponseWriter, r *http.Request, _ int) { t.Error("WeChat was called") }
	rec, _ := w.call("POST", "/cgi-bin/media/upload", "application/octet-stream", bytes.Repeat([]byte("x"), 2<<10))
	if rec.Code != 413 || !strings.Contains(rec.Body.String(), `"errcode":44002`) {
		t.Fatalf("a body over max_body: %d %s", rec.Code, rec.Body)
	}
	w.proxy.Accounts[0].BaseURL = "http://127.0.0.1:1"
	rec, call := w.call("GET", "/cgi-bin/getcallbackip?access_token=mine", "", nil)
	if rec.Code != 502 || !strings.Contains(rec.Body.String(), `"errcode":-1`) || call.Outcome != "unreachable" {
		t.Fatalf("WeChat unreachable: %d %s %+v", rec.Code, rec.Body, call)
	}
	if strings.Contains(call.Err.Error(), "tok1") || strings.Contains(call.Err.Error(), "mine") {
		t.Fatalf("the error %q holds an access_token", call.Err)
	}
}

func TestALegacyBackendsOwnTokenRequestIsAnsweredFromTheSharedToken(t *testing.T) {
	w := newWorld(t)
	w.reply = func(rw http.ResponseWriter, r *http.Request, _ int) { t.Error("WeChat was called") }
	for _, tc := range []struct {
		name, method, target, body string
		want                       string // the errcode, or the token
	}{
		{"cgi-bin/token", "GET", "/cgi-bin/token?grant_type=client_credential&appid=wxshop&secret=shop-secret", "", "tok1"},
		{"stable_token", "POST", "/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"wxgame","secret":"game-secret"}`, "game-tok"},
		{"stable_token forcing a refresh", "POST", "/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"wxshop","secret":"shop-secret","force_refresh":true}`, "tok1-forced"},
		{"an appid not served", "GET", "/cgi-bin/token?grant_type=client_credential&appid=wxother&secret=shop-secret", "", "40013"},
		{"another app's secret", "GET", "/cgi-bin/token?grant_type=client_credential&appid=wxshop&secret=game-secret", "", "40125"},
		{"a secret one byte short", "POST", "/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"wxshop","secret":"shop-secre"}`, "40125"},
		{"another grant_type", "GET", "/cgi-bin/token?grant_type=password&appid=wxshop&secret=shop-secret", "", "40002"},
		{"a body that is not JSON", "POST", "/cgi-bin/stable_token", `grant_type=client_credential`, "47001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, _ := w.call(tc.method, tc.target, "application/json", []byte(tc.body))
			var ans struct {
				AccessToken string `json:"access_token"`
				ExpiresIn   int64  `json:"expires_in"`
				ErrCode     int    `json:"errcode"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil || rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if got := ans.AccessToken; got != "" && (got != tc.want || ans.ExpiresIn < 3000) {
				t.Fatalf("answered %s", rec.Body)
			}
			if ans.AccessToken == "" && !strings.Contains(rec.Body.String(), `"errcode":`+tc.want) {
				t.Fatalf("answered %s, want errcode %s", rec.Body, tc.want)
			}
		})
	}
	if w.shop.forced != 1 {
		t.Fatalf("%d forced refreshes, want 1", w.shop.forced)
	}
}
