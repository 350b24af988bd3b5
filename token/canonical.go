package token

import "fmt"

// checkCanonical refuses every spelling of a compact JWS but the one Issue
// writes: three segments of unpadded base64url whose unused trailing bits are
// zero. jwx's decoder also accepts '=' padding, the standard alphabet and
// non-zero trailing bits, so without this one token would have many
// spellings that all verify — and a cache or a revocation keyed by the
// token's text would miss all but one of them.
func checkCanonical(raw string) error {
	dots, segStart := 0, 0
	for i := 0; i <= len(raw); i++ {
		if i < len(raw) && raw[i] != '.' {
			if base64URLValue(raw[i]) < 0 {
				return fmt.Errorf("%w: byte %d is not base64url", ErrInvalid, i)
			}
			continue
		}
		if err := checkSegment(raw[segStart:i]); err != nil {
			return err
		}
		if i < len(raw) {
			dots++
		}
		segStart = i + 1
	}
	if dots != 2 {
		return fmt.Errorf("%w: %d segments, want 3", ErrInvalid, dots+1)
	}
	return nil
}

// checkSegment checks one segment's length and trailing bits: a final group
// of two characters carries 8 bits in 12, of three 16 in 18; the rest must
// be zero for the spelling to be the only one.
func checkSegment(seg string) error {
	if len(seg) == 0 {
		return fmt.Errorf("%w: empty segment", ErrInvalid)
	}
	var unused byte
	switch len(seg) % 4 {
	case 1:
		return fmt.Errorf("%w: segment length %d is not base64", ErrInvalid, len(seg))
	case 2:
		unused = 0x0f
	case 3:
		unused = 0x03
	}
	if byte(base64URLValue(seg[len(seg)-1]))&unused != 0 {
		return fmt.Errorf("%w: segment has non-zero trailing bits", ErrInvalid)
	}
	return nil
}

// base64URLValue is c's value in the base64url alphabet, or -1.
func base64URLValue(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}
