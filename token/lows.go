package token

import (
	"bytes"
	"crypto/elliptic"
	"encoding/base64"
	"math/big"
)

// p256HalfOrder is n/2 for P-256: an ECDSA signature's S above it has a
// twin, n−S, that verifies too.
var p256HalfOrder = new(big.Int).Rsh(elliptic.P256().Params().N, 1)

// lowS rewrites a compact ES256 token's signature to its low-S form.
func lowS(compact []byte) []byte {
	dot := bytes.LastIndexByte(compact, '.')
	sig, err := base64.RawURLEncoding.DecodeString(string(compact[dot+1:]))
	if err != nil || len(sig) != 64 {
		return compact
	}
	s := new(big.Int).SetBytes(sig[32:])
	if s.Cmp(p256HalfOrder) <= 0 {
		return compact
	}
	s.Sub(elliptic.P256().Params().N, s)
	s.FillBytes(sig[32:])
	out := append([]byte(nil), compact[:dot+1]...)
	return base64.RawURLEncoding.AppendEncode(out, sig)
}

// highS reports whether a compact ES256 token's S is above n/2.
func highS(compact string) bool {
	dot := len(compact) - 1
	for dot >= 0 && compact[dot] != '.' {
		dot--
	}
	sig, err := base64.RawURLEncoding.DecodeString(compact[dot+1:])
	return err == nil && len(sig) == 64 && new(big.Int).SetBytes(sig[32:]).Cmp(p256HalfOrder) > 0
}
