package examples

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/wxauth/caddy-wxauth/internal/proctest"
	"github.com/wxauth/caddy-wxauth/wxmock"
)

// examples/h5 in a real browser: headless Chromium, driven over the DevTools
// protocol, opens the page, passes through the fake WeChat's authorize page
// and back, sees who it is logged in as, and logs out, as a user would.
// Only a browser checks what matters for cookies: that it stores the login
// cookie (Secure, over plain http on localhost), sends it on the way back
// from WeChat (SameSite=Lax) and keeps it from the page's script (HttpOnly).

// The accounts of examples/h5/Caddyfile, which names their AppIDs.
const (
	h5OfficialAccount = "wx0123456789abcdef"
	h5Website         = "wxfedcba9876543210"
)

// weChatUserAgent is the User-Agent of WeChat's built-in browser on
// Android: its MicroMessenger token is what makes wxauth choose the
// official account.
const weChatUserAgent = "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/130.0.6723.103 Mobile Safari/537.36 XWEB/1300289 MMWEBSDK/20241103 MMWEBID/6533 MicroMessenger/8.0.55.2780(0x28003737) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64"

// browserTimeout bounds each wait for the browser: a login is a handful of
// local redirects.
const browserTimeout = 20 * time.Second

// h5Login is one way into examples/h5.
type h5Login struct {
	appID     string
	userAgent string // "" for Chromium's own, which has no MicroMessenger
	page      string // the fake WeChat's authorize page the browser passes through
	unionID   bool   // whether the upstream gets X-UnionID: snsapi_login yes, snsapi_base (the official account's default) no
}

func TestABrowserLogsInThroughAnOfficialAccountInsideWeChatAndOutAgain(t *testing.T) {
	testH5BrowserLogin(t, h5Login{appID: h5OfficialAccount, userAgent: weChatUserAgent, page: wxmock.PathOAuthAuthorize})
}

func TestABrowserLogsInThroughAWebsitesQRLoginOutsideWeChatAndOutAgain(t *testing.T) {
	testH5BrowserLogin(t, h5Login{appID: h5Website, page: wxmock.PathQRConnect, unionID: true})
}

func testH5BrowserLogin(t *testing.T, login h5Login) {
	chromium := chromiumPath(t)
	t.Parallel()
	h5 := startH5(t)
	b := startBrowser(t, chromium, login.userAgent, map[string]string{h5.site: "site", h5.wechat: "wechat"})
	// A path with a query, to see return_to bring the browser back to it.
	page := h5.site + "/?tab=me"

	bob := h5.nextOAuthUser(t, login.appID, "bob")
	b.open(t, page)
	b.waitStatus(t, "logged in as "+bob)
	b.checkIdentity(t, login, bob, "bob")
	b.checkHops(t, 0, h5.loginHops(login)...)
	b.checkLocation(t, page)
	token := b.checkLoginCookie(t, h5.site)
	if status, body := h5.me(t, token); status != http.StatusOK || !strings.Contains(string(body), bob) {
		t.Fatalf("GET /api/me with the browser's cookie: %d %s, want 200 with %s", status, body, bob)
	}

	// Whoever the authorize page logs in next: seeing carol proves the
	// reload after logging out went through WeChat again.
	carol := h5.nextOAuthUser(t, login.appID, "carol")
	mark := b.hopCount()
	b.click(t, "logout")
	b.waitStatus(t, "logged in as "+carol)
	b.checkIdentity(t, login, carol, "carol")
	b.checkHops(t, mark, append([]string{"POST site/wx/logout 204"}, h5.loginHops(login)...)...)
	b.checkLocation(t, page)
	if newToken := b.checkLoginCookie(t, h5.site); newToken == token {
		t.Errorf("the login after logging out kept the old token")
	}
	if status, body := h5.me(t, token); status != http.StatusUnauthorized {
		t.Errorf("GET /api/me with the token logged out: %d %s, want 401", status, body)
	}
}

// chromiumPath finds Chromium or Chrome on PATH, or skips t: a failure
// instead with WXAUTH_REQUIRE_BROWSER=1, which CI sets once it has
// installed Chromium. Tests never download a browser.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const msg = "no chromium, chromium-browser or google-chrome on PATH: install one to run the browser tests (Debian: apt-get install chromium)"
	if os.Getenv("WXAUTH_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + "; WXAUTH_REQUIRE_BROWSER=1 makes that a failure")
	}
	t.Skip(msg)
	return ""
}

// --- the example's servers ----------------------------------------------------

// h5World is examples/h5/Caddyfile run by the Caddy built here, on free
// ports, against cmd/wxmock serving both of its accounts.
type h5World struct {
	site   string // the page's origin, http://localhost:port
	wechat string // the fake WeChat's
}

func startH5(t *testing.T) *h5World {
	t.Helper()
	oaSecret, siteSecret := "h5-test-oa-secret", "h5-test-site-secret"
	wechat := fmt.Sprintf("127.0.0.1:%d", proctest.FreePort(t))
	// -unionid: the accounts belong to one Open Platform account, so
	// snsapi_login answers a unionid.
	mock := exec.Command(wxmockBin, "-listen", wechat, "-unionid",
		"-app", h5OfficialAccount+":"+oaSecret, "-app", h5Website+":"+siteSecret)
	startProcess(t, "wxmock", mock).WaitOK(t, "http://"+wechat+"/mock/stats")

	root, err := filepath.Abs("h5/www")
	if err != nil {
		t.Fatal(err)
	}
	port := proctest.FreePort(t)
	h5 := &h5World{site: fmt.Sprintf("http://localhost:%d", port), wechat: "http://" + wechat}
	env := caddyEnv(t, "WXMOCK_URL="+h5.wechat, fmt.Sprintf("H5_PORT=%d", port),
		fmt.Sprintf("H5_UPSTREAM_PORT=%d", proctest.FreePort(t)), "H5_ROOT="+root,
		"WX_OA_SECRET="+oaSecret, "WX_SITE_SECRET="+siteSecret)
	startCaddy(t, "h5/Caddyfile", env, h5.site)
	return h5
}

// nextOAuthUser has the fake WeChat's next authorize page for appID log in
// user, and returns the openid it will give.
func (h5 *h5World) nextOAuthUser(t *testing.T, appID, user string) string {
	t.Helper()
	var next struct{ OpenID string }
	postJSON(t, h5.wechat+"/mock/oauth/next?"+url.Values{"user": {user}, "appid": {appID}}.Encode(), "", &next)
	if next.OpenID == "" {
		t.Fatalf("/mock/oauth/next for %s gave no openid", user)
	}
	return next.OpenID
}

// me calls the page's API from outside the browser with token as the login
// cookie.
func (h5 *h5World) me(t *testing.T, token string) (int, []byte) {
	t.Helper()
	return get(t, h5.site+"/api/me", "", map[string]string{"Cookie": "wxauth=" + token, "Accept": "application/json"})
}

// loginHops are the requests of a login that starts with opening the page
// logged out, as checkHops writes them.
func (h5 *h5World) loginHops(login h5Login) []string {
	return []string{
		"GET site/ 302",                    // login_redirect
		"GET site/wx/oauth 302",            // to WeChat's authorize page
		"GET wechat" + login.page + " 302", // consent at once, back with a code
		"GET site/wx/oauth/callback 302",   // the cookie, and back to return_to
		"GET site/ 200",
		"GET site/api/me 200", // the page's fetch(), with the cookie
	}
}

// --- the browser --------------------------------------------------------------

// browser is a headless Chromium with a fresh profile, one tab, and a log
// of what went over the network.
type browser struct {
	ctx     context.Context
	traffic *traffic
	origins map[string]string // names for origins in hop strings
}

// startBrowser starts Chromium with userAgent ("" for its own); hop
// strings name the origins as origins says.
func startBrowser(t *testing.T, exe, userAgent string, origins map[string]string) *browser {
	t.Helper()
	// Under t.TempDir, which is removed after the cleanup below has stopped
	// Chromium. XDG_* keep its caches and settings in there too.
	dir := t.TempDir()
	profile := filepath.Join(dir, "profile")
	out := &proctest.SyncBuffer{}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(profile),
		chromedp.Env("XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_CACHE_HOME="+filepath.Join(dir, "cache")),
		chromedp.Headless,
		// Containers and CI runners often run as root, where the sandbox
		// cannot start; the pages here are the test's own.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Only the test's own requests, all of them to loopback: no QUIC
		// probes, updates, sync or crash reports.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.CombinedOutput(out),
	}
	if userAgent != "" {
		opts = append(opts, chromedp.UserAgent(userAgent))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	b := &browser{ctx: ctx, traffic: &traffic{method: map[network.RequestID]string{}}, origins: origins}
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc() // waits until Chromium has exited
		if t.Failed() {
			t.Logf("what the browser sent and got:\n%s\nchromium output:\n%s", b.traffic, out)
		}
		// Chromium's helpers may still write there for a moment after it
		// exits, which would make t.TempDir's removal fail.
		removeAllSoon(t, profile)
	})
	// The first call starts Chromium and ties it to ctx, so it gets no
	// timeout of its own (see chromedp.NewContext).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v\n%s", exe, err, out)
	}
	if err := chromedp.Listen(ctx, b.traffic.record); err != nil {
		t.Fatal(err)
	}
	return b
}

func removeAllSoon(t *testing.T, dir string) {
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = os.RemoveAll(dir); err == nil {
			return
		}
	}
	t.Errorf("removing Chromium's profile: %v", err)
}

// do runs actions with browserTimeout.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

func (b *browser) open(t *testing.T, page string) {
	t.Helper()
	if err := b.do(chromedp.Navigate(page)); err != nil {
		t.Fatalf("opening %s: %v", page, err)
	}
}

func (b *browser) click(t *testing.T, id string) {
	t.Helper()
	if err := b.do(chromedp.Click(chromedp.ID(id))); err != nil {
		t.Fatalf("clicking #%s: %v", id, err)
	}
}

// text is the text of the element with the id, "" while there is none (the
// page is loading, or has gone).
func (b *browser) text(id string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.getElementById(%q)?.textContent ?? ""`, id)))
}

// waitStatus waits until the page's status line reads want. It stops early
// at the page's other final words: an error, or logged out.
func (b *browser) waitStatus(t *testing.T, want string) {
	t.Helper()
	var got string
	var err error
	for deadline := time.Now().Add(browserTimeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		// Errors are expected while a navigation replaces the page.
		if got, err = b.text("status"); err != nil {
			continue
		}
		if got == want || strings.HasPrefix(got, "Error:") || got == "Logged out." {
			break
		}
	}
	if got != want {
		t.Fatalf("the page says %q (%v), want %q", got, err, want)
	}
}

// checkIdentity checks what the page shows the upstream got.
func (b *browser) checkIdentity(t *testing.T, login h5Login, openID, user string) {
	t.Helper()
	wantUnionID := "(none)"
	if login.unionID {
		wantUnionID = wxmock.New(wxmock.Config{}).UnionID(user) // the same for every app
	}
	for id, want := range map[string]string{"openid": openID, "appid": login.appID, "unionid": wantUnionID} {
		if got, err := b.text(id); err != nil || got != want {
			t.Errorf("the page shows %s %q (%v), want %q", id, got, err, want)
		}
	}
}

// checkLocation checks that the browser is back at want, return_to, and
// without the fragment of WeChat's authorize URL, #wechat_redirect: a
// browser keeps a URL's fragment across redirects whose Location has none
// (RFC 9110, 10.2.2), so the callback's Location ends in an empty one.
func (b *browser) checkLocation(t *testing.T, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || strings.TrimSuffix(got, "#") != want {
		t.Errorf("the browser ended at %q (%v), want %q", got, err, want)
	}
}

// checkLoginCookie checks the cookies the browser keeps for site: every one
// HttpOnly, the login cookie Secure, SameSite=Lax, for the whole site and
// kept across browser restarts (Max-Age). It returns the login cookie's
// token.
func (b *browser) checkLoginCookie(t *testing.T, site string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{site + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	var token string
	for _, c := range res.Cookies {
		// The state cookie of a login under way too: the page's script has
		// no business with either.
		if !c.HTTPOnly {
			t.Errorf("cookie %s is not HttpOnly", c.Name)
		}
		if c.Name != "wxauth" {
			continue
		}
		token = c.Value
		if !c.Secure || c.SameSite != network.CookieSameSiteLax || c.Path != "/" || c.Session {
			t.Errorf("the login cookie is Secure %t, SameSite %q, Path %q, session-only %t; want Secure, Lax, /, with Max-Age", c.Secure, c.SameSite, c.Path, c.Session)
		}
	}
	if token == "" {
		t.Fatalf("no wxauth cookie for %s among %d cookies; cookies the browser refused: %q", site, len(res.Cookies), b.traffic.refused())
	}
	// What the page's script, or a script injected into it, could read.
	seen, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(seen, "wxauth=") || strings.Contains(seen, token) {
		t.Errorf("document.cookie shows the login cookie: %q", seen)
	}
	return token
}

// --- what went over the network -----------------------------------------------

// traffic records the tab's requests, each redirect a hop of its own, and
// what else explains a failure: cookies refused, the page's exceptions.
// record runs on chromedp's reading goroutine, the checks on the test's.
type traffic struct {
	mu         sync.Mutex
	method     map[network.RequestID]string // of requests under way
	hops       []hop
	refusedSet []string
	exceptions []string
}

type hop struct {
	method, url string
	status      int64
}

func (tr *traffic) record(ev any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if r := ev.RedirectResponse; r != nil {
			tr.hops = append(tr.hops, hop{tr.method[ev.RequestID], r.URL, r.Status})
		}
		tr.method[ev.RequestID] = ev.Request.Method
	case *network.EventResponseReceived:
		tr.hops = append(tr.hops, hop{tr.method[ev.RequestID], ev.Response.URL, ev.Response.Status})
	case *network.EventResponseReceivedExtraInfo:
		for _, c := range ev.BlockedCookies {
			tr.refusedSet = append(tr.refusedSet, fmt.Sprintf("%s %v", c.CookieLine, c.BlockedReasons))
		}
	case *runtime.EventExceptionThrown:
		if d := ev.ExceptionDetails; d != nil {
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg = d.Exception.Description
			}
			tr.exceptions = append(tr.exceptions, msg)
		}
	}
}

func (tr *traffic) refused() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.refusedSet...)
}

func (tr *traffic) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var s strings.Builder
	for _, h := range tr.hops {
		fmt.Fprintf(&s, "\t%s %s → %d\n", h.method, h.url, h.status)
	}
	for _, c := range tr.refusedSet {
		fmt.Fprintf(&s, "\tcookie refused: %s\n", c)
	}
	for _, e := range tr.exceptions {
		fmt.Fprintf(&s, "\tpage exception: %s\n", e)
	}
	return s.String()
}

func (b *browser) hopCount() int {
	b.traffic.mu.Lock()
	defer b.traffic.mu.Unlock()
	return len(b.traffic.hops)
}

// checkHops checks that the hops from the from-th on include want, in that
// order (other requests may come between). A hop is "METHOD where STATUS",
// where being the origin's name and the path, without the query: "GET
// site/wx/oauth 302".
func (b *browser) checkHops(t *testing.T, from int, want ...string) {
	t.Helper()
	b.traffic.mu.Lock()
	var got []string
	for _, h := range b.traffic.hops[from:] {
		got = append(got, b.hopString(h))
	}
	b.traffic.mu.Unlock()
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("the browser's requests lack %q after %q:\n\t%s", want[i], want[:i], strings.Join(got, "\n\t"))
	}
}

func (b *browser) hopString(h hop) string {
	u, err := url.Parse(h.url)
	if err != nil {
		return fmt.Sprintf("%s %s %d", h.method, h.url, h.status)
	}
	where := u.Scheme + "://" + u.Host
	if name, ok := b.origins[where]; ok {
		where = name
	}
	return fmt.Sprintf("%s %s%s %d", h.method, where, u.Path, h.status)
}
