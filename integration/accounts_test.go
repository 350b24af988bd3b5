package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wxauth/caddy-wxauth/internal/proctest"
	"github.com/wxauth/caddy-wxauth/wxmock"
)

const (
	shopAppID, shopSecret = "wxa11111111111111a", "shop-app-secret-0123456789"
	gameAppID, gameSecret = "wxb22222222222222b", "game-app-secret-0123456789"
)

// company is one fake WeChat serving two mini programs, a recording
// upstream, and a Caddy whose global wxauth block holds both as accounts.
type company struct {
	mock      *wxmock.Server
	wechat    *httptest.Server
	upstream  *upstream
	wxapiLogs *proctest.Process // the last wxapi Caddy started
}

func newCompany(t *testing.T) *company {
	t.Helper()
	c := &company{mock: wxmock.New(wxmock.Config{Apps: []wxmock.App{
		{AppID: shopAppID, AppSecret: shopSecret}, {AppID: gameAppID, AppSecret: gameSecret},
	}})}
	c.wechat = httptest.NewServer(c.mock)
	t.Cleanup(c.wechat.Close)
	c.upstream = newUpstream(t)
	return c
}

// start runs Caddy with the two accounts in the global block and one site
// per entry of sites, each a wxauth block body; it returns the sites' URLs.
func (c *company) start(t *testing.T, sites ...string) []string {
	t.Helper()
	admin := proctest.FreePort(t)
	var b strings.Builder
	fmt.Fprintf(&b, "{\n\tadmin 127.0.0.1:%d\n\tauto_https off\n\tpersist_config off\n\tstorage file_system %s\n%s}\n",
		admin, t.TempDir(), c.globalBlock(t, ""))
	var urls []string
	for _, body := range sites {
		port := proctest.FreePort(t)
		urls = append(urls, fmt.Sprintf("http://127.0.0.1:%d", port))
		fmt.Fprintf(&b, "\nhttp://127.0.0.1:%d {\n\twxauth {\n\t\t%s\n\t}\n\treverse_proxy %s\n}\n",
			port, body, strings.TrimPrefix(c.upstream.URL, "http://"))
	}
	proc := runCaddyProcess(t, b.String(), urls[0]+"/wx/.well-known/jwks.json")
	t.Cleanup(proc.Stop)
	return urls
}

// globalBlock is the wxauth global option holding the company's two mini
// programs, with extra settings; their secrets come from the environment.
func (c *company) globalBlock(t *testing.T, extra string) string {
	t.Setenv("SHOP_SECRET", shopSecret)
	t.Setenv("GAME_SECRET", gameSecret)
	return fmt.Sprintf(`	wxauth {
		api_base %s
		%s
		miniprogram shop {
			app_id %s
			app_secret {env.SHOP_SECRET}
		}
		miniprogram game {
			app_id %s
			app_secret {env.GAME_SECRET}
		}
	}
`, c.wechat.URL, extra, shopAppID, gameAppID)
}

// loginAs logs user in to site as the mini program appID, naming it with
// the body's appid field or, with referer set, only through the Referer a
// mini program sends.
func (c *company) loginAs(t *testing.T, site, appID, user string, referer bool) response {
	t.Helper()
	code := c.mock.App(appID).Code(user)
	body := fmt.Sprintf(`{"code":%q,"appid":%q}`, code, appID)
	req, err := http.NewRequest("POST", site+"/wx/login", strings.NewReader(body))
	if referer {
		req, err = http.NewRequest("POST", site+"/wx/login", strings.NewReader(fmt.Sprintf(`{"code":%q}`, code)))
		req.Header.Set("Referer", "https://servicewechat.com/"+appID+"/devtools/page-frame.html")
	}
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return roundTrip(t, req)
}

func TestTwoMiniProgramsLogInOnOneEndpointEachWithItsOwnIdentity(t *testing.T) {
	c := newCompany(t)
	site := c.start(t, "public /health")[0] // no apps: every mini program of the block

	for _, tc := range []struct {
		name, appID string
		referer     bool
	}{
		{"shop named in the body", shopAppID, false},
		{"game named in the body", gameAppID, false},
		{"game chosen by its mini program Referer", gameAppID, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.loginAs(t, site, tc.appID, "alice", tc.referer)
			if r.Status != http.StatusOK {
				t.Fatalf("login: %d %s", r.Status, r.Body)
			}
			body := r.JSON(t)
			if body["appid"] != tc.appID || body["openid"] != c.mock.App(tc.appID).OpenID("alice") {
				t.Fatalf("login answered %s", r.Body)
			}
			tok, _ := body["token"].(string)
			if got := do(t, "GET", site+"/api/me", tok, ""); got.Status != http.StatusOK {
				t.Fatalf("a request with the token: %d %s", got.Status, got.Body)
			}
			seen := c.upstream.last(t)
			if seen.Get("X-AppID") != tc.appID || seen.Get("X-OpenID") != c.mock.App(tc.appID).OpenID("alice") {
				t.Fatalf("upstream saw X-AppID %q, X-OpenID %q", seen.Get("X-AppID"), seen.Get("X-OpenID"))
			}
		})
	}

	code := c.mock.App(shopAppID).Code("bob")
	wantError(t, do(t, "POST", site+"/wx/login", "", fmt.Sprintf(`{"code":%q}`, code)), 400, "invalid_request")
	wantError(t, do(t, "POST", site+"/wx/login", "", fmt.Sprintf(`{"code":%q,"appid":"wx0000000000000000"}`, code)), 400, "invalid_request")
	// A Referer naming the wrong app grants nothing: WeChat refuses the code.
	req, _ := http.NewRequest("POST", site+"/wx/login", strings.NewReader(fmt.Sprintf(`{"code":%q}`, code)))
	req.Header.Set("Referer", "https://servicewechat.com/"+gameAppID+"/0/page-frame.html")
	wantError(t, roundTrip(t, req), 401, "invalid_code")
}

func TestAHandlerAcceptsOnlyTokensOfItsOwnAccounts(t *testing.T) {
	c := newCompany(t)
	sites := c.start(t, "apps shop", "apps game")
	shopTok, _ := c.loginAs(t, sites[0], shopAppID, "alice", false).JSON(t)["token"].(string)
	if r := do(t, "GET", sites[0]+"/api/me", shopTok, ""); r.Status != http.StatusOK {
		t.Fatalf("the shop's token on the shop's site: %d %s", r.Status, r.Body)
	}
	wantError(t, do(t, "GET", sites[1]+"/api/me", shopTok, ""), 401, "unauthorized")
	wantError(t, do(t, "POST", sites[1]+"/wx/logout", shopTok, ""), 401, "unauthorized")
	wantError(t, c.loginAs(t, sites[1], shopAppID, "bob", false), 400, "invalid_request")
}

func TestPhoneBindingUsesTheTokensAccountAndOneAccessTokenPerAppIDForTwoSites(t *testing.T) {
	c := newCompany(t)
	sites := c.start(t, "apps game", "apps game shop")
	for i, site := range sites {
		tok, _ := c.loginAs(t, site, gameAppID, fmt.Sprintf("user%d", i), false).JSON(t)["token"].(string)
		code := c.mock.App(gameAppID).PhoneCode(fmt.Sprintf("user%d", i), "13800138000")
		if r := do(t, "POST", site+"/wx/phone", tok, fmt.Sprintf(`{"code":%q}`, code)); r.Status != http.StatusOK {
			t.Fatalf("phone on site %d: %d %s", i, r.Status, r.Body)
		}
	}
	stats := c.mock.Stats()
	if n := stats.Apps[gameAppID].TokenFetches["stable_token"]; n != 1 {
		t.Fatalf("the game's access_token was fetched %d times for two sites, want 1", n)
	}
	if n := stats.Apps[shopAppID].TokenFetches["stable_token"]; n != 0 {
		t.Fatalf("the shop's access_token was fetched %d times, want 0: no shop user bound a phone", n)
	}
}

func TestAccountConfigMistakesFailAtLoadNamingTheMistake(t *testing.T) {
	global := func(accounts string) string {
		return "{\n\twxauth {\n" + accounts + "\n\t}\n}\n:0 {\n\twxauth\n\trespond ok\n}\n"
	}
	site := func(global, body string) string {
		return global + ":1 {\n\twxauth {\n" + body + "\n\t}\n\trespond ok\n}\n"
	}
	shop := "\t\tminiprogram shop {\n\t\t\tapp_id wxa\n\t\t\tapp_secret s\n\t\t}\n"
	for _, tc := range []struct {
		name, config, command, want string
	}{
		{"apps with the inline form", site(global(shop), "apps shop\napp_id wxb\napp_secret s"), "adapt", "use either apps"},
		{"an unknown account name", site(global(shop), "apps game"), "validate", `no account named \"game\"`},
		{"one AppID twice", global(shop + "\t\tminiprogram game {\n\t\t\tapp_id wxa\n\t\t\tapp_secret t\n\t\t}\n"), "adapt", "app_id wxa is both account shop and account game"},
		{"one name twice", global(shop + shop), "adapt", `account name \"shop\" is used twice`},
		{"an account without a secret", global("\t\tminiprogram shop {\n\t\t\tapp_id wxa\n\t\t}\n"), "adapt", "account shop: app_secret is required"},
		{"no account at all", ":0 {\n\twxauth\n\trespond ok\n}\n", "validate", "no account to serve"},
		{"an inline AppID that is an account", site(global(shop), "app_id wxa\napp_secret s"), "validate", "app_id wxa is already account shop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := runCaddyCommand(t, tc.config, "Caddyfile", tc.command, "--adapter", "caddyfile")
			if ok {
				t.Fatalf("caddy %s accepted:\n%s\n%s", tc.command, tc.config, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("caddy %s output lacks %q:\n%s", tc.command, tc.want, out)
			}
		})
	}
}

func TestEachHeaderProfileHandsItsNamesUpstreamAndEverySiteStripsEveryProfilesNames(t *testing.T) {
	c := newCompany(t)
	sites := c.start(t,
		"apps shop",
		"apps shop\n\t\theaders cloudrun",
		"apps shop\n\t\theaders {\n\t\t\topenid X-User\n\t\t\tappid X-App\n\t\t}",
	)
	tok, _ := c.loginAs(t, sites[0], shopAppID, "alice", false).JSON(t)["token"].(string)
	openid := c.mock.App(shopAppID).OpenID("alice")
	// Every site strips both profiles' names and Cloud Run's others; a site
	// with a custom block strips its own names too (elsewhere they are
	// ordinary headers).
	union := []string{"X-OpenID", "X-WX-OPENID", "X-WX-APPID", "X-WX-UNIONID", "X-WX-SOURCE", "X-Original-Forwarded-For",
		"X-AppID", "X-Phone", "X-Phone-Country-Code", "X-UnionID", "X-WX-FROM-OPENID", "X-WX-FROM-APPID", "X-WX-FROM-UNIONID",
		"X-WX-ENV", "X-WX-CLOUDBASE-ACCESS-TOKEN", "X-WX-FROM-CLOUDBASE-ACCESS-TOKEN"}
	for i, tc := range []struct {
		name   string
		forged []string
		want   map[string]string // "" means absent
	}{
		{"default", union, map[string]string{"X-OpenID": openid, "X-AppID": shopAppID, "X-WX-OPENID": ""}},
		{"cloudrun", union, map[string]string{"X-WX-OPENID": openid, "X-WX-APPID": shopAppID, "X-WX-SOURCE": "wx_client",
			"X-Original-Forwarded-For": "127.0.0.1", "X-OpenID": "", "X-AppID": "", "X-Phone": ""}},
		{"custom", append([]string{"X-User", "X-App"}, union...), map[string]string{"X-User": openid, "X-App": shopAppID, "X-OpenID": "", "X-WX-OPENID": "", "X-AppID": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", sites[i]+"/api/me", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			for _, name := range tc.forged {
				req.Header.Set(strings.ReplaceAll(name, "-", "_"), "forged")
				req.Header.Add(name, "forged")
			}
			if r := roundTrip(t, req); r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			seen := c.upstream.last(t)
			for name, want := range tc.want {
				if got := strings.Join(seen.Values(name), ","); got != want {
					t.Errorf("upstream saw %s = %q, want %q", name, got, want)
				}
			}
			for name, values := range seen {
				for _, v := range values {
					if v == "forged" {
						t.Errorf("a forged %s reached the upstream", name)
					}
				}
			}
		})
	}
}
