package caddymodule

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestStripRemovesIdentityHeadersInEverySpelling(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{"canonical names", http.Header{"X-Openid": {"a"}, "X-Unionid": {"b"}, "X-Phone": {"c"}, "X-Phone-Country-Code": {"d"}, "Accept": {"*/*"}},
			http.Header{"Accept": {"*/*"}}},
		{"raw spellings kept by the server", http.Header{"x_openid": {"a"}, "X_OPENID": {"a"}, "X-OpenID": {"a"}, "x_Phone_country_CODE": {"1"}},
			http.Header{}},
		{"look-alikes survive", http.Header{"X-Openid2": {"a"}, "X-Phone-Country": {"b"}, "Xopenid": {"c"}},
			http.Header{"X-Openid2": {"a"}, "X-Phone-Country": {"b"}, "Xopenid": {"c"}}},
		{"identity names leave Connection", http.Header{"Connection": {"keep-alive, X-OpenID", "x_phone"}},
			http.Header{"Connection": {"keep-alive"}}},
		{"a Connection of identity names only goes", http.Header{"Connection": {"X-OpenID, X_UNIONID"}},
			http.Header{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stripIdentityHeaders(tc.in)
			if !reflect.DeepEqual(tc.in, tc.want) {
				t.Fatalf("got %v, want %v", tc.in, tc.want)
			}
		})
	}
}

func BenchmarkStripIdentityHeaders(b *testing.B) {
	b.ReportAllocs()
	h := http.Header{
		"Accept": {"*/*"}, "User-Agent": {"Mozilla/5.0"}, "Authorization": {"Bearer x"},
		"Content-Type": {"application/json"}, "Referer": {"https://servicewechat.com/wx/0/page-frame.html"},
	}
	for b.Loop() {
		stripIdentityHeaders(h)
	}
}

func TestAPhoneCallRefusedBeforeItSaysHowIsCountedUnderMethodNone(t *testing.T) {
	fx := newEndpointFixture(t)
	counter := metrics.phones.WithLabelValues("none", "invalid_request")
	before := testutil.ToFloat64(counter)
	rec, _, err := fx.serve(http.MethodPost, "/wx/phone", "Bearer "+fx.token, "application/json", []byte(`{}`))
	if err != nil || rec.Code != http.StatusBadRequest {
		t.Fatalf("an empty phone body: %v, %d %s", err, rec.Code, rec.Body)
	}
	if got := testutil.ToFloat64(counter) - before; got != 1 {
		t.Fatalf(`phone_bindings_total{method="none",outcome="invalid_request"} grew by %v, want 1`, got)
	}
	if got := testutil.ToFloat64(metrics.phones.WithLabelValues("", "invalid_request")); got != 0 {
		t.Fatalf(`a refused call was counted under method="" (%v)`, got)
	}
}
