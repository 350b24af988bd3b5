package caddymodule

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestAFormBodyIsReadLikeJSONAndAFieldGivenTwiceIsRefused(t *testing.T) {
	fx := newEndpointFixture(t)
	const form = "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
	}{
		{"a form login", form, url.Values{"code": {fx.mock.Code("bob")}}.Encode(), http.StatusOK},
		{"a form with a charset", form + "; charset=utf-8", url.Values{"code": {fx.mock.Code("bob")}}.Encode(), http.StatusOK},
		{"code twice", form, "code=a&code=b", http.StatusBadRequest},
		{"code twice in two cases", form, "code=" + fx.mock.Code("bob") + "&CODE=b", http.StatusBadRequest},
		{"a form that is not one", form, "code=%zz", http.StatusBadRequest},
		{"text/plain", "text/plain", "code=a", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, called, err := fx.serve(http.MethodPost, "/wx/login", "", tc.contentType, []byte(tc.body))
			if err != nil || called || rec.Code != tc.status {
				t.Fatalf("%d %s (err %v, next called %v), want %d", rec.Code, rec.Body, err, called, tc.status)
			}
			if tc.status == http.StatusBadRequest && !strings.Contains(rec.Body.String(), `"invalid_request"`) {
				t.Fatalf("body %s is not invalid_request", rec.Body)
			}
		})
	}
}
