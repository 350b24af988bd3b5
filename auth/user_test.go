package auth

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/wxmock"
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

func TestTheUserRecordLivesUserTTLFromTheLastLogin(t *testing.T) {
	const userTTL = 10 * time.Hour
	r := newRig(t, rigOptions{
		mock: func(c *wxmock.Config) { c.UnionID = true },
		auth: func(c *Config) { c.UserTTL = userTTL },
	})
	ctx := context.Background()
	id, _ := r.identity(t, "alice")
	if _, err := r.svc.PhoneByCode(ctx, id, r.mock.PhoneCode("alice", "13800138000")); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(8 * time.Hour)
	if l := r.login(t, "alice"); !l.HasPhone || l.UnionID == "" {
		t.Fatalf("second login = %+v; want the phone and unionid remembered", l)
	}
	r.clock.Advance(8 * time.Hour) // 16h after the binding, 8h after the last login
	if u, err := r.svc.loadUser(ctx, id.OpenID); err != nil || u.Phone == nil || u.UnionID == "" {
		t.Fatalf("user 8h after the last login = %+v, %v; want it kept", u, err)
	}
	r.clock.Advance(userTTL - 8*time.Hour + time.Second)
	if u, err := r.svc.loadUser(ctx, id.OpenID); err != nil || u != (user{}) {
		t.Fatalf("user past user_ttl after the last login = %+v, %v; want it gone", u, err)
	}
}

func TestALoginAPhoneBindingAndAProfileRacingLoseNoField(t *testing.T) {
	r := newRig(t, rigOptions{mock: func(c *wxmock.Config) { c.UnionID = true }})
	ctx := context.Background()
	openid := r.mock.OpenID("alice")
	bound := &Phone{PhoneNumber: "13800138000", PurePhoneNumber: "13800138000", CountryCode: "86"}
	for round := range 50 {
		if err := r.store.Delete(ctx, r.svc.userKey(openid)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() { r.login(t, "alice") })
		wg.Go(func() {
			if _, err := r.svc.updateUser(ctx, openid, func(u *user) { u.Phone = bound }); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if _, err := r.svc.renewUser(ctx, openid, "oProfileUnion"); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		u, err := r.svc.loadUser(ctx, openid)
		if err != nil || u.Phone == nil || *u.Phone != *bound || u.UnionID == "" {
			t.Fatalf("round %d: user = %+v, %v; want the phone and a unionid", round, u, err)
		}
	}
}
