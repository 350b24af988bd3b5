package caddymodule

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAPhoneCallRefusedBeforeItSaysHowIsCountedUnderMethodNone(t *testing.T) {
	fx := newEndpointFixture(t)
	counter := metrics.phones.WithLabelValues(fuzzAppID, "none", "invalid_request")
	before := testutil.ToFloat64(counter)
	rec, _, err := fx.serve(http.MethodPost, "/wx/phone", "Bearer "+fx.token, "application/json", []byte(`{}`))
	if err != nil || rec.Code != http.StatusBadRequest {
		t.Fatalf("an empty phone body: %v, %d %s", err, rec.Code, rec.Body)
	}
	if got := testutil.ToFloat64(counter) - before; got != 1 {
		t.Fatalf(`phone_bindings_total{method="none",outcome="invalid_request"} grew by %v, want 1`, got)
	}
	if got := testutil.ToFloat64(metrics.phones.WithLabelValues(fuzzAppID, "", "invalid_request")); got != 0 {
		t.Fatalf(`a refused call was counted under method="" (%v)`, got)
	}
}
