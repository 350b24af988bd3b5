package caddymodule

import (
	"net/http"
	"reflect"
	"testing"
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
