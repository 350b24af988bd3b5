// Package forgery makes distinct forged tokens for the benchmarks of auth and
// caddymodule, so that a pool larger than wxauth's cache of refused tokens
// is never answered from it.
package forgery

// Variants returns n variants of raw, six characters near its end replaced
// by base64url digits of the index (the last two are left alone: they may
// hold padding bits). For a token, that changes its signature.
func Variants(raw string, n int) []string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	out := make([]string, n)
	b := []byte(raw)
	for i := range out {
		x := i
		for j := len(b) - 8; j < len(b)-2; j++ {
			b[j] = alphabet[x%64]
			x /= 64
		}
		out[i] = string(b)
	}
	return out
}
