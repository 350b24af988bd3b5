package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestMetricsAppearAtTheAdminEndpointAfterALogin(t *testing.T) {
	w := newWorld(t, "")
	tok := w.login(t, "alice")
	do(t, "POST", w.caddy.URL+"/wx/login", "", `{"code":"no-such-code"}`)
	do(t, "POST", w.caddy.URL+"/wx/phone", tok, fmt.Sprintf(`{"code":%q}`, w.mock.PhoneCode("alice", "13800138000")))
	do(t, "GET", w.caddy.URL+"/api/me", tok, "")
	do(t, "GET", w.caddy.URL+"/api/me", "", "")
	do(t, "GET", w.caddy.URL+"/public/x", "", "")

	r := do(t, "GET", w.caddy.Admin+"/metrics", "", "")
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.Status)
	}
	body := string(r.Body)
	for _, want := range []string{
		`caddy_wxauth_logins_total{app_id="` + testAppID + `",outcome="ok"} 1`,
		`caddy_wxauth_logins_total{app_id="` + testAppID + `",outcome="invalid_code"} 1`,
		`caddy_wxauth_phone_bindings_total{app_id="` + testAppID + `",method="code",outcome="ok"} 1`,
		`caddy_wxauth_requests_total{app_id="` + testAppID + `",result="verified"} 1`,
		`caddy_wxauth_requests_total{app_id="",result="rejected"} 1`,
		`caddy_wxauth_requests_total{app_id="",result="public"} 1`,
		`caddy_wxauth_wechat_requests_total{app_id="` + testAppID + `",endpoint="sns/jscode2session",outcome="ok"} 1`,
		`caddy_wxauth_wechat_requests_total{app_id="` + testAppID + `",endpoint="sns/jscode2session",outcome="40029"} 1`,
		`caddy_wxauth_wechat_requests_total{app_id="` + testAppID + `",endpoint="wxa/business/getuserphonenumber",outcome="ok"} 1`,
		`caddy_wxauth_wechat_request_duration_seconds_count{app_id="` + testAppID + `",endpoint="sns/jscode2session"} 2`,
		`caddy_wxauth_access_token_fetches_total{app_id="` + testAppID + `"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		var ours []string
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "caddy_wxauth") {
				ours = append(ours, l)
			}
		}
		t.Logf("wxauth metrics:\n%s", strings.Join(ours, "\n"))
	}
}

func TestEachLoginPhoneAndLogoutLogsOneLineWithoutTheOpenID(t *testing.T) {
	w := newWorld(t, "")
	tok := w.login(t, "alice")
	do(t, "POST", w.caddy.URL+"/wx/phone", tok, fmt.Sprintf(`{"code":%q}`, w.mock.PhoneCode("alice", "13800138000")))
	do(t, "POST", w.caddy.URL+"/wx/logout", tok, "")
	msgs := []string{`"msg":"login"`, `"msg":"phone"`, `"msg":"logout"`}
	logs := w.caddy.WaitLog(t, "a login, a phone and a logout line", func(log string) bool {
		for _, msg := range msgs {
			if !strings.Contains(log, msg) {
				return false
			}
		}
		return true
	})
	for _, msg := range msgs {
		if n := strings.Count(logs, msg); n != 1 {
			t.Errorf("%d log lines with %s, want 1", n, msg)
		}
	}
	if !strings.Contains(logs, `"outcome":"ok"`) || !strings.Contains(logs, `"user":"`) {
		t.Errorf("log lines lack outcome or user hash:\n%s", logs)
	}
	if strings.Contains(logs, w.mock.OpenID("alice")) {
		t.Error("the openid was logged without log_openids")
	}
}
