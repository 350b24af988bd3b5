package token

import (
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/fakeclock"
)

func TestAnES256TokenHasOneSpellingItsLowSSignature(t *testing.T) {
	m := mustNew(t, pemConfig(pemPKCS8(t, newECDSA(t, elliptic.P256())), fakeclock.New(time.Now())))
	n := elliptic.P256().Params().N
	for i := range 20 { // a random S is high half the time
		raw, _ := mustIssue(t, m, "o-user")
		if highS(raw) {
			t.Fatalf("token %d was issued with a high S", i)
		}
		if _, err := m.Verify(t.Context(), raw); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		dot := strings.LastIndexByte(raw, '.')
		sig, err := base64.RawURLEncoding.DecodeString(raw[dot+1:])
		if err != nil || len(sig) != 64 {
			t.Fatalf("signature: %v, %d bytes", err, len(sig))
		}
		twin := new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:]))
		twin.FillBytes(sig[32:])
		respelled := raw[:dot+1] + base64.RawURLEncoding.EncodeToString(sig)
		if _, err := m.Verify(t.Context(), respelled); !errors.Is(err, ErrInvalid) {
			t.Fatalf("token %d with S replaced by n−S: %v, want ErrInvalid", i, err)
		}
	}
}
