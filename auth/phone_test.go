package auth

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/wxauth/caddy-wxauth/wxmock"
)

func TestPhoneByCodeAcceptsTheCountryCodeAsAStringOrANumber(t *testing.T) {
	tests := []struct {
		name          string
		asNumber      bool
		phone, cc     string
		wantFull      string
		wantCountryCC string
	}{
		{"a mainland number, countryCode as WeChat sends it", false, "13800138000", "86", "13800138000", "86"},
		{"a mainland number, countryCode as WeChat documents it", true, "13800138000", "86", "13800138000", "86"},
		{"a US number as a string", false, "2025550123", "1", "+12025550123", "1"},
		{"a US number as a number", true, "2025550123", "1", "+12025550123", "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{mock: func(c *wxmock.Config) { c.CountryCodeNumber = tc.asNumber }})
			id, tok := r.identity(t, "alice")
			p, err := r.svc.PhoneByCode(context.Background(), id, r.mock.PhoneCodeWithCountry("alice", tc.phone, tc.cc))
			if err != nil {
				t.Fatal(err)
			}
			want := Phone{PhoneNumber: tc.wantFull, PurePhoneNumber: tc.phone, CountryCode: tc.wantCountryCC}
			if *p != want {
				t.Fatalf("PhoneByCode = %+v, want %+v", *p, want)
			}
			got, err := r.svc.Verify(context.Background(), tok)
			if err != nil || got.Phone == nil || *got.Phone != want {
				t.Fatalf("Verify after binding: %+v, %v", got.Phone, err)
			}
		})
	}
}

func TestEveryLegacyDataFailureIsTheSameError(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	id, _ := r.identity(t, "alice")
	r.login(t, "bob")
	data, iv, err := r.mock.EncryptedPhone("alice", "13800138000")
	if err != nil {
		t.Fatal(err)
	}
	bobData, bobIV, _ := r.mock.EncryptedPhone("bob", "13900139000")
	raw, sig, pdata, piv, _ := r.mock.EncryptedProfile("alice")
	bobRaw, bobSig, bobPData, bobPIV, _ := r.mock.EncryptedProfile("bob")

	tests := []struct {
		name string
		call func() error
	}{
		{"phone: not base64", func() error { _, err := r.svc.PhoneByEncryptedData(ctx, id, "%%%", iv); return err }},
		{"phone: a short iv", func() error {
			_, err := r.svc.PhoneByEncryptedData(ctx, id, data, base64.StdEncoding.EncodeToString([]byte("short")))
			return err
		}},
		{"phone: truncated", func() error { _, err := r.svc.PhoneByEncryptedData(ctx, id, data[:len(data)-8], iv); return err }},
		{"phone: bob's data", func() error { _, err := r.svc.PhoneByEncryptedData(ctx, id, bobData, bobIV); return err }},
		{"profile: a wrong signature", func() error {
			_, err := r.svc.Profile(ctx, id, raw, strings.Repeat("0", 40), pdata, piv)
			return err
		}},
		{"profile: bob's data", func() error { _, err := r.svc.Profile(ctx, id, bobRaw, bobSig, bobPData, bobPIV); return err }},
		{"profile: alice's signature over bob's data", func() error { _, err := r.svc.Profile(ctx, id, raw, sig, bobPData, bobPIV); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := wantCode(t, tc.call(), CodeDecryptFailed)
			if e != errDecrypt {
				t.Fatalf("got %#v, want the one errDecrypt", e)
			}
		})
	}
}

func TestSessionKeysSealedUnderAnotherAppSecretAreSkipped(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	id, _ := r.identity(t, "alice")
	data, iv, err := r.mock.EncryptedPhone("alice", "13800138000")
	if err != nil {
		t.Fatal(err)
	}
	// The same store, a rotated AppSecret: the old seal key is gone.
	rotated, _ := DeriveSealKey("a-rotated-app-secret")
	cfg := r.svc.cfg
	cfg.SealKey = rotated
	after, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = after.PhoneByEncryptedData(ctx, id, data, iv)
	wantCode(t, err, CodeDecryptFailed)

	// Once alice logs in again under the new secret, her fresh key works.
	if _, err := after.Login(ctx, r.mock.Code("alice")); err != nil {
		t.Fatal(err)
	}
	data, iv, _ = r.mock.EncryptedPhone("alice", "13800138000")
	if _, err := after.PhoneByEncryptedData(ctx, id, data, iv); err != nil {
		t.Fatalf("with a key sealed under the new secret: %v", err)
	}
}

func TestProfileKeepsTheUnionIDItCarries(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	id, tok := r.identity(t, "alice")
	raw, sig, data, iv, err := r.mock.EncryptedProfile("alice")
	if err != nil {
		t.Fatal(err)
	}
	if want := sha1.Sum([]byte(raw + r.mock.SessionKey("alice"))); hex.EncodeToString(want[:]) != sig {
		t.Fatal("the mock's signature is not sha1(rawData + session_key)")
	}
	p, err := r.svc.Profile(ctx, id, raw, sig, data, iv)
	if err != nil {
		t.Fatal(err)
	}
	if p.OpenID != r.mock.OpenID("alice") || p.UnionID != r.mock.UnionID("alice") || p.NickName == "" {
		t.Fatalf("Profile = %+v", p)
	}
	got, err := r.svc.Verify(ctx, tok)
	if err != nil || got.UnionID != r.mock.UnionID("alice") {
		t.Fatalf("Verify after the profile: unionid %q, %v", got.UnionID, err)
	}
	if l := r.login(t, "alice"); l.UnionID != r.mock.UnionID("alice") {
		t.Fatalf("the next login answered unionid %q", l.UnionID)
	}
}
