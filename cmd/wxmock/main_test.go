package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/wxmock"
)

func TestParseFlags(t *testing.T) {
	defaults := options{
		listen:   "127.0.0.1:9090",
		appID:    wxmock.DemoAppID,
		secret:   wxmock.DemoAppSecret,
		tokenTTL: 2 * time.Hour,
	}
	with := func(f func(*options)) options { o := defaults; f(&o); return o }
	appA := wxmock.App{AppID: "wxaaaaaaaaaaaaaaaa", AppSecret: "secret-a"}
	appB := wxmock.App{AppID: "wxbbbbbbbbbbbbbbbb", AppSecret: "secret-b"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    options
		wantErr string
	}{
		{name: "no flags gives the demo app on localhost:9090", want: defaults},
		{name: "every flag is read",
			args: []string{"-listen", ":0", "-appid", "wxabc", "-secret", "s", "-unionid", "-latency", "20ms", "-token-ttl", "1m", "-country-code-number"},
			want: options{listen: ":0", appID: "wxabc", secret: "s", unionID: true, latency: 20 * time.Millisecond, tokenTTL: time.Minute, countryCodeNumber: true}},
		{name: "the secret comes from WXMOCK_SECRET", env: map[string]string{"WXMOCK_SECRET": "from-env"},
			want: func() options { o := defaults; o.secret = "from-env"; return o }()},
		{name: "-secret beats WXMOCK_SECRET", args: []string{"-secret", "flag"}, env: map[string]string{"WXMOCK_SECRET": "from-env"},
			want: func() options { o := defaults; o.secret = "flag"; return o }()},
		{name: "a zero token TTL is refused", args: []string{"-token-ttl", "0s"}, wantErr: "-token-ttl"},
		{name: "a negative latency is refused", args: []string{"-latency", "-1s"}, wantErr: "-latency"},
		{name: "an empty appid is refused", args: []string{"-appid", ""}, wantErr: "-appid"},
		{name: "-app may be repeated, and then only those apps are served",
			args: []string{"-app", "wxaaaaaaaaaaaaaaaa:secret-a", "-app", "wxbbbbbbbbbbbbbbbb:secret-b"},
			want: with(func(o *options) { o.appID, o.secret, o.apps = "", "", []wxmock.App{appA, appB} })},
		{name: "-app adds to -appid, which stays the default app",
			args: []string{"-appid", "wxabc", "-app", "wxbbbbbbbbbbbbbbbb:secret-b"},
			want: with(func(o *options) { o.appID, o.apps = "wxabc", []wxmock.App{appB} })},
		{name: "-secret with -app keeps the demo AppID as the default app",
			args: []string{"-secret", "s", "-app", "wxbbbbbbbbbbbbbbbb:secret-b"},
			want: with(func(o *options) { o.secret, o.apps = "s", []wxmock.App{appB} })},
		{name: "WXMOCK_SECRET alone does not add the demo app beside -app",
			args: []string{"-app", "wxaaaaaaaaaaaaaaaa:secret-a"}, env: map[string]string{"WXMOCK_SECRET": "from-env"},
			want: with(func(o *options) { o.appID, o.secret, o.apps = "", "", []wxmock.App{appA} })},
		{name: "an -app secret may contain colons",
			args: []string{"-app", "wxaaaaaaaaaaaaaaaa:a:b"},
			want: with(func(o *options) {
				o.appID, o.secret, o.apps = "", "", []wxmock.App{{AppID: appA.AppID, AppSecret: "a:b"}}
			})},
		{name: "an -app repeating the -appid with its secret is accepted",
			args: []string{"-appid", appA.AppID, "-secret", appA.AppSecret, "-app", "wxaaaaaaaaaaaaaaaa:secret-a"},
			want: with(func(o *options) { o.appID, o.secret, o.apps = appA.AppID, appA.AppSecret, []wxmock.App{appA} })},
		{name: "an -app without a secret is refused", args: []string{"-app", "wxaaaaaaaaaaaaaaaa"}, wantErr: "id:secret"},
		{name: "an -app with an empty secret is refused", args: []string{"-app", "wxaaaaaaaaaaaaaaaa:"}, wantErr: "id:secret"},
		{name: "an -app without an AppID is refused", args: []string{"-app", ":secret"}, wantErr: "id:secret"},
		{name: "one AppID with two secrets is refused",
			args: []string{"-app", "wxaaaaaaaaaaaaaaaa:secret-a", "-app", "wxaaaaaaaaaaaaaaaa:other"}, wantErr: "-app wxaaaaaaaaaaaaaaaa"},
		{name: "an -app naming the -appid with another secret is refused",
			args: []string{"-appid", appA.AppID, "-secret", "s", "-app", "wxaaaaaaaaaaaaaaaa:secret-a"}, wantErr: "already served"},
		{name: "-risky-word and -review-word may be repeated",
			args: []string{"-risky-word", "forbidden", "-risky-word", "禁止", "-review-word", "maybe"},
			want: with(func(o *options) { o.riskyWords, o.reviewWords = []string{"forbidden", "禁止"}, []string{"maybe"} })},
		{name: "an empty -risky-word is refused", args: []string{"-risky-word", ""}, wantErr: "want a word"},
		{name: "-oauth-domain may be repeated",
			args: []string{"-oauth-domain", "app.example", "-oauth-domain", "127.0.0.1:8080"},
			want: with(func(o *options) { o.oauthDomains = []string{"app.example", "127.0.0.1:8080"} })},
		{name: "an empty -oauth-domain is refused", args: []string{"-oauth-domain", ""}, wantErr: "want a word"},
		{name: "stray arguments are refused", args: []string{"serve"}, wantErr: "unexpected arguments"},
		{name: "unknown flags are refused", args: []string{"-port", "1"}, wantErr: "-port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("options = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCountryCodeNumberHelpSaysRealAnswersSendAString(t *testing.T) {
	var help bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, func(string) string { return "" }, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h returned %v, want flag.ErrHelp", err)
	}
	_, after, ok := strings.Cut(help.String(), "-country-code-number")
	line, _, _ := strings.Cut(strings.TrimLeft(after, "\n\t "), "\n")
	for _, want := range []string{"number", "docs", "real WeChat answers send a string"} {
		if !ok || !strings.Contains(line, want) {
			t.Errorf("help for -country-code-number = %q, want it to mention %q", line, want)
		}
	}
}

func TestHelpSaysAppMayBeRepeatedAndNothingShowsASecret(t *testing.T) {
	var help bytes.Buffer
	env := map[string]string{"WXMOCK_SECRET": "env-secret"}
	if _, err := parseFlags([]string{"-h"}, func(k string) string { return env[k] }, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h returned %v, want flag.ErrHelp", err)
	}
	if strings.Contains(help.String(), "env-secret") {
		t.Errorf("help shows $WXMOCK_SECRET's value as -secret's default")
	}
	_, after, ok := strings.Cut(help.String(), "-app id:secret")
	usage, _, _ := strings.Cut(after, "\n  -")
	for _, want := range []string{"repeat", "-appid", "default"} {
		if !ok || !strings.Contains(usage, want) {
			t.Errorf("help for -app = %q, want it to mention %q", usage, want)
		}
	}

	var errs bytes.Buffer
	if _, err := parseFlags([]string{"-app", "wxa:s1", "-app", "wxa:s2"}, func(string) string { return "" }, &errs); err == nil ||
		strings.Contains(err.Error()+errs.String(), "s1") || strings.Contains(err.Error()+errs.String(), "s2") {
		t.Errorf("conflicting -app flags: error %v, output %q; want an error that shows no secret", err, errs.String())
	}
}

func TestServeServesEveryAppGivenWithAppAndLogsNoSecret(t *testing.T) {
	apps := []wxmock.App{{AppID: "wxaaaaaaaaaaaaaaaa", AppSecret: "secret-a"}, {AppID: "wxbbbbbbbbbbbbbbbb", AppSecret: "secret-b"}}
	base, logs, stop := serving(t, options{apps: apps, tokenTTL: time.Minute})
	getJSON := func(path string) map[string]any {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return v
	}
	for _, app := range apps {
		t.Run(app.AppID, func(t *testing.T) {
			code, _ := getJSON("/mock/code?user=alice&appid=" + app.AppID)["code"].(string)
			q := url.Values{"appid": {app.AppID}, "secret": {app.AppSecret}, "js_code": {code}, "grant_type": {"authorization_code"}}
			if sess := getJSON(wxmock.PathJSCode2Session + "?" + q.Encode()); sess["openid"] == nil {
				t.Errorf("jscode2session for %s answered %v", app.AppID, sess)
			}
		})
	}
	if _, isDemo := getJSON("/mock/stats")["apps"].(map[string]any)[wxmock.DemoAppID]; isDemo {
		t.Errorf("the demo app is served although only -app apps were given")
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancel", err)
	}
	if got := logs.String(); !strings.Contains(got, "wxaaaaaaaaaaaaaaaa, wxbbbbbbbbbbbbbbbb") || strings.Contains(got, "secret-") {
		t.Errorf("log = %q, want both appids, the default first, and no secret", got)
	}
}

func TestServeAnswersUntilCancelledThenShutsDown(t *testing.T) {
	o := options{appID: "wxabc", secret: "do-not-log-me", tokenTTL: time.Minute}
	base, logs, stop := serving(t, o)

	resp, err := http.Get(base + "/mock/code?user=alice")
	if err != nil {
		t.Fatalf("GET /mock/code: %v", err)
	}
	var body struct{ Code string }
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil || body.Code == "" {
		t.Fatalf("/mock/code answered no code (err %v)", err)
	}

	if err := stop(); err != nil {
		t.Errorf("serve returned %v after cancel, want nil", err)
	}
	if got := logs.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, strings.TrimPrefix(base, "http://")) || strings.Contains(got, o.secret) {
		t.Errorf("log = %q, want one line naming the address and not the secret", got)
	}
}

func TestServeJudgesTextsByTheRiskyWordsGiven(t *testing.T) {
	base, _, _ := serving(t, options{appID: "wxabc", secret: "s", tokenTTL: time.Minute, riskyWords: []string{"forbidden"}})
	post := func(path, body string) map[string]any {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		return v
	}
	tok, _ := post(wxmock.PathStableToken, `{"grant_type":"client_credential","appid":"wxabc","secret":"s"}`)["access_token"].(string)
	check := wxmock.PathMsgSecCheck + "?access_token=" + url.QueryEscape(tok)
	tests := []struct {
		content string
		want    float64
	}{
		{"this is forbidden", 87014},
		{"违规 is no longer risky once -risky-word is given", 0},
	}
	for _, tt := range tests {
		body, _ := json.Marshal(map[string]string{"content": tt.content})
		if got := post(check, string(body)); got["errcode"] != tt.want {
			t.Errorf("msg_sec_check %q answered %v, want errcode %v", tt.content, got, tt.want)
		}
	}
}

func TestServePlaysAWebLoginAndRedirectsOnlyToTheOAuthDomainsGiven(t *testing.T) {
	base, _, _ := serving(t, options{appID: "wxabc", secret: "s", tokenTTL: time.Minute, oauthDomains: []string{"app.example"}})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	getJSON := func(path string) map[string]any {
		t.Helper()
		var v map[string]any
		if err := json.NewDecoder(get(path).Body).Decode(&v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return v
	}
	authorize := func(redirect string) string {
		return wxmock.PathOAuthAuthorize + "?appid=wxabc&redirect_uri=" + url.QueryEscape(redirect) +
			"&response_type=code&scope=snsapi_userinfo&state=xyz"
	}

	resp, err := client.Post(base+"/mock/oauth/next?user=bob", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var next struct{ OpenID string }
	err = json.NewDecoder(resp.Body).Decode(&next)
	resp.Body.Close()
	if err != nil || next.OpenID == "" {
		t.Fatalf("/mock/oauth/next answered no openid (err %v)", err)
	}

	if refused := get(authorize("https://evil.example/cb")); refused.StatusCode != http.StatusOK || refused.Header.Get("Location") != "" ||
		refused.Header.Get("X-Wxmock-Errcode") != "10003" {
		t.Errorf("a redirect_uri off -oauth-domain answered %d (Location %q, errcode %q), want the 10003 error page",
			refused.StatusCode, refused.Header.Get("Location"), refused.Header.Get("X-Wxmock-Errcode"))
	}
	ok := get(authorize("https://app.example/cb"))
	loc, err := ok.Location()
	if ok.StatusCode != http.StatusFound || err != nil || loc.Host != "app.example" || loc.Query().Get("state") != "xyz" {
		t.Fatalf("authorize answered %d, Location %v (%v)", ok.StatusCode, loc, err)
	}
	q := url.Values{"appid": {"wxabc"}, "secret": {"s"}, "code": {loc.Query().Get("code")}, "grant_type": {"authorization_code"}}
	tok := getJSON(wxmock.PathOAuthAccessToken + "?" + q.Encode())
	if tok["openid"] != next.OpenID || tok["scope"] != "snsapi_userinfo" {
		t.Fatalf("sns/oauth2/access_token answered %v, want bob's openid", tok)
	}
	info := getJSON(wxmock.PathSNSUserInfo + "?" + url.Values{"access_token": {tok["access_token"].(string)}, "openid": {next.OpenID}, "lang": {"zh_CN"}}.Encode())
	if info["nickname"] != "bob" {
		t.Errorf("sns/userinfo answered %v, want bob's profile", info)
	}
}

// serving runs serve with o on a free loopback port. stop cancels it and
// returns what serve returned, failing t after 10 s; the log is complete
// once stop has returned.
func serving(t *testing.T, o options) (base string, logs *bytes.Buffer, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs = &bytes.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, o, log.New(logs, "", 0)) }()
	var once sync.Once
	var served error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case served = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not return after cancel")
			}
		})
		return served
	}
	t.Cleanup(func() { stop() })
	return "http://" + ln.Addr().String(), logs, stop
}
