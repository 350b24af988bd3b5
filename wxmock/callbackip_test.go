package wxmock

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestGetCallbackIPAnswersTheIPList(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	a := call(t, s, httptest.NewRequest(http.MethodGet, withToken(PathGetCallbackIP, tok), nil))
	var got []string
	list, _ := a.body["ip_list"].([]any)
	for _, ip := range list {
		s, _ := ip.(string)
		got = append(got, s)
	}
	if !reflect.DeepEqual(got, CallbackIPs()) || len(got) == 0 {
		t.Errorf("ip_list = %v, want CallbackIPs() %v", a.body["ip_list"], CallbackIPs())
	}
	if len(a.body) != 1 {
		t.Errorf("answer %v, want ip_list alone as in WeChat's example", a.body)
	}
}

func TestCallbackIPsCannotBeChangedByACaller(t *testing.T) {
	ips := CallbackIPs()
	ips[0] = "127.0.0.1"
	if CallbackIPs()[0] == "127.0.0.1" {
		t.Errorf("CallbackIPs returned the package's own slice")
	}
}
