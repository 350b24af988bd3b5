package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/proctest"
	"github.com/wxauth/caddy-wxauth/internal/redistest"
)

// startWxapi runs a Caddy whose global block holds the company's two mini
// programs and whose one site is a wxapi with body; it returns the site's URL.
func (c *company) startWxapi(t *testing.T, global, body string) string {
	t.Helper()
	port := proctest.FreePort(t)
	site := fmt.Sprintf("http://127.0.0.1:%d", port)
	config := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n\tdebug\n%s}\n\n%s {\n\twxapi {\n\t\t%s\n\t}\n}\n",
		c.globalBlock(t, global), site, body)
	c.wxapiLogs = startCaddyProcess(t, config)
	c.wxapiLogs.WaitListening(t, strings.TrimPrefix(site, "http://"), 30*time.Second)
	return site
}

func TestABackendCallsWeChatsAPIsThroughWxapiWithNoTokenAndNoSecret(t *testing.T) {
	c := newCompany(t)
	api := c.startWxapi(t, "", "app shop\n\t\tapps game")
	alice := c.mock.App(shopAppID).OpenID("alice")
	c.mock.App(shopAppID).Code("alice") // alice is a user of the shop

	check := do(t, "POST", api+"/wxa/msg_sec_check", "", fmt.Sprintf(`{"content":"hello","version":2,"scene":2,"openid":%q}`, alice))
	if check.Status != http.StatusOK || !strings.Contains(string(check.Body), `"suggest":"pass"`) {
		t.Fatalf("msg_sec_check: %d %s", check.Status, check.Body)
	}
	code := do(t, "POST", api+"/wxa/getwxacodeunlimit?access_token=stale-token-of-the-backend", "", `{"scene":"a=1","page":"pages/index/index","check_path":false}`)
	if code.Status != http.StatusOK || !strings.HasPrefix(code.Header.Get("Content-Type"), "image/") || len(code.Body) == 0 {
		t.Fatalf("getwxacodeunlimit: %d %q %d bytes", code.Status, code.Header.Get("Content-Type"), len(code.Body))
	}
	image := bytes.Repeat([]byte{0xff, 0xd8, 0x00, 0x10}, 4096)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	part, _ := mw.CreateFormFile("media", "a.jpg")
	part.Write(image)
	mw.Close()
	upload := doAs(t, "POST", api+"/cgi-bin/media/upload?type=image", "", mw.FormDataContentType(), form.String())
	sum := sha256.Sum256(image)
	if upload.Status != http.StatusOK || !strings.Contains(string(upload.Body), `"media_id"`) {
		t.Fatalf("media/upload: %d %s", upload.Status, upload.Body)
	}
	if got := c.mock.Uploads(); len(got) != 1 || got[0].SHA256 != hex.EncodeToString(sum[:]) || got[0].AppID != shopAppID {
		t.Fatalf("WeChat received uploads %+v, want the file intact", got)
	}
	bob := c.mock.App(gameAppID).OpenID("bob")
	c.mock.App(gameAppID).Code("bob")
	send := do(t, "POST", api+"/cgi-bin/message/subscribe/send?from_appid="+gameAppID, "",
		fmt.Sprintf(`{"touser":%q,"template_id":"tpl","data":{"thing1":{"value":"hi"}}}`, bob))
	if send.Status != http.StatusOK || !strings.Contains(string(send.Body), `"msgid"`) {
		t.Fatalf("subscribe/send for the game: %d %s", send.Status, send.Body)
	}
	if sent := c.mock.App(gameAppID).Sent(); len(sent) != 1 || sent[0].ToUser != bob {
		t.Fatalf("the game sent %+v", sent)
	}
	stats := c.mock.Stats()
	if n := stats.Apps[shopAppID].TokenFetches["stable_token"]; n != 1 {
		t.Fatalf("the shop's token was fetched %d times for four calls, want 1", n)
	}
	log := c.wxapiLogs.Logs.String()
	for _, secret := range []string{shopSecret, gameSecret} {
		if strings.Contains(log, secret) {
			t.Fatal("the log holds an AppSecret")
		}
	}
}

func TestALegacyBackendFetchingItsOwnTokenGetsTheSharedOne(t *testing.T) {
	c := newCompany(t)
	api := c.startWxapi(t, "", "app shop")
	legacy := do(t, "GET", api+"/cgi-bin/token?grant_type=client_credential&appid="+shopAppID+"&secret="+shopSecret, "", "")
	stable := do(t, "POST", api+"/cgi-bin/stable_token", "", fmt.Sprintf(`{"grant_type":"client_credential","appid":%q,"secret":%q}`, shopAppID, shopSecret))
	for _, r := range []response{legacy, stable} {
		if r.Status != http.StatusOK || r.JSON(t)["access_token"] == nil || r.JSON(t)["expires_in"].(float64) < 3000 {
			t.Fatalf("token answer: %d %s", r.Status, r.Body)
		}
	}
	if legacy.JSON(t)["access_token"] != stable.JSON(t)["access_token"] {
		t.Fatal("cgi-bin/token and stable_token answered different tokens")
	}
	if n := c.mock.Stats().TokensIssued["stable_token"] + c.mock.Stats().TokensIssued["token"]; n != 1 {
		t.Fatalf("WeChat minted %d tokens, want the one shared token", n)
	}
	wrong := do(t, "GET", api+"/cgi-bin/token?grant_type=client_credential&appid="+shopAppID+"&secret="+gameSecret, "", "")
	if wrong.Status != http.StatusOK || wrong.JSON(t)["errcode"].(float64) != 40125 {
		t.Fatalf("a wrong secret: %d %s", wrong.Status, wrong.Body)
	}
}

func TestWxapiRefusesPathsPeersAndBodiesItShouldNot(t *testing.T) {
	c := newCompany(t)
	for _, tc := range []struct {
		name, body, method, path, payload string
		status, errcode                   int
	}{
		{"a path not in allow", "app shop\n\t\tallow /wxa/msg_sec_check", "GET", "/cgi-bin/getcallbackip", "", 403, 85107},
		{"a peer outside allow_from", "app shop\n\t\tallow_from 10.0.0.0/8", "GET", "/cgi-bin/getcallbackip", "", 403, 40164},
		{"a body over max_body", "app shop\n\t\tmax_body 1KiB", "POST", "/wxa/msg_sec_check", strings.Repeat("x", 2048), 413, 44002},
		{"an unknown from_appid", "app shop", "GET", "/cgi-bin/getcallbackip?from_appid=wx0", "", 403, 40013},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := c.startWxapi(t, "", tc.body)
			before := c.mock.Stats().Calls
			r := do(t, tc.method, api+tc.path, "", tc.payload)
			if r.Status != tc.status || r.JSON(t)["errcode"].(float64) != float64(tc.errcode) {
				t.Fatalf("%d %s, want %d with errcode %d", r.Status, r.Body, tc.status, tc.errcode)
			}
			if after := c.mock.Stats().Calls; fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("WeChat was called: %v → %v", before, after)
			}
		})
	}
}

func TestARefusedTokenIsRefreshedOnceForTwoInstancesAndEveryCallRetried(t *testing.T) {
	c := newCompany(t)
	store := fmt.Sprintf("store redis %s\n\t\tkey_prefix %s", redistest.URL(t), redistest.Prefix(t))
	apis := []string{c.startWxapi(t, store, "app shop"), c.startWxapi(t, store, "app shop")}
	call := func(n int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				r := do(t, "GET", apis[i%2]+"/cgi-bin/getcallbackip", "", "")
				if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "ip_list") {
					t.Errorf("call %d: %d %s", i, r.Status, r.Body)
				}
			})
		}
		wg.Wait()
	}
	call(100)
	if n := c.mock.Stats().Apps[shopAppID].TokenFetches["stable_token"]; n != 1 {
		t.Fatalf("100 calls on two instances fetched the token %d times, want 1", n)
	}
	c.mock.App(shopAppID).InvalidateTokens()
	call(100)
	if n := c.mock.Stats().Apps[shopAppID].TokenFetches["stable_token"]; n != 2 {
		t.Fatalf("after WeChat invalidated the token, %d fetches in all, want 2", n)
	}
}
