package auth

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestUserRecordRoundTrips(t *testing.T) {
	tests := []struct {
		name string
		u    user
		want string
	}{
		{"a unionid only", user{UnionID: "oUnion"}, `["oUnion"]`},
		{"a phone without a unionid", user{Phone: &Phone{"+1 202-555-0100", "2025550100", "1"}}, `["","+1 202-555-0100","2025550100","1"]`},
		{"both, with characters JSON must escape", user{UnionID: `o"\|,`, Phone: &Phone{"13800138000", "13800138000", "86"}}, `["o\"\\|,","13800138000","13800138000","86"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.u)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("encoded as %s; want %s", b, tt.want)
			}
			var got user
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.u) {
				t.Errorf("decoded %+v; want %+v", got, tt.u)
			}
		})
	}
}

func TestUserRecordRefusesOtherShapes(t *testing.T) {
	for _, rec := range []string{``, `[]`, `["u","p"]`, `["u","p","pp","cc","x"]`, `{"unionid":"u"}`, `"u"`, `[1]`, `null`} {
		var u user
		if err := json.Unmarshal([]byte(rec), &u); err == nil {
			t.Errorf("record %q decoded as %+v; want an error", rec, u)
		}
	}
}
