package auth

import (
	"bytes"
	"strings"
	"testing"
)

func TestDeriveSealKeyIsStablePerSecretAndDistinctAcrossSecrets(t *testing.T) {
	a1, err := DeriveSealKey("secret-a")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := DeriveSealKey("secret-a")
	b, _ := DeriveSealKey("secret-b")
	if len(a1) != 32 {
		t.Fatalf("key is %d bytes, want 32", len(a1))
	}
	if !bytes.Equal(a1, a2) {
		t.Fatal("the same secret derived two keys: instances would not share session_keys")
	}
	if bytes.Equal(a1, b) {
		t.Fatal("two secrets derived the same key")
	}
	if bytes.Contains(a1, []byte("secret-a")) {
		t.Fatal("the key contains the secret")
	}
	if _, err := DeriveSealKey(""); err == nil {
		t.Fatal("an empty secret derived a key")
	}
}

func TestNewSealerRefusesKeysThatAreNot32Bytes(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := newSealer(make([]byte, n)); err == nil {
			t.Errorf("a %d-byte key was accepted", n)
		}
	}
}

// owner is the associated data the tests seal to, as Login seals to the openid.
var owner = []byte("o-test-user")

func TestASealedValueOpensToItselfAndSealingTwiceDiffers(t *testing.T) {
	key, _ := DeriveSealKey(testSecret)
	s, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		plain []byte
	}{
		{"empty", []byte{}},
		{"a session_key", []byte("HyVFkGl5F5OQWJZZaNzBBg==")},
		{"a kilobyte", bytes.Repeat([]byte{0xa5}, 1024)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sealed := s.seal(tc.plain, owner)
			got, err := s.open(sealed, owner)
			if err != nil || !bytes.Equal(got, tc.plain) {
				t.Fatalf("open(seal(%q)) = %q, %v", tc.plain, got, err)
			}
			if len(tc.plain) > 0 && bytes.Contains(sealed, tc.plain) {
				t.Fatal("the sealed value contains the plaintext")
			}
			if bytes.Equal(sealed, s.seal(tc.plain, owner)) {
				t.Fatal("sealing twice gave the same bytes: the nonce is not random")
			}
		})
	}
}

func TestATamperedForeignOrOtherUsersSealedValueDoesNotOpen(t *testing.T) {
	key, _ := DeriveSealKey(testSecret)
	s, _ := newSealer(key)
	otherKey, _ := DeriveSealKey("another-app-secret")
	other, _ := newSealer(otherKey)
	plain := []byte("HyVFkGl5F5OQWJZZaNzBBg==")
	sealed := s.seal(plain, owner)

	// Every single-bit change anywhere — nonce, ciphertext, tag — is caught.
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x80
		if got, err := s.open(bad, owner); err == nil {
			t.Fatalf("flipping byte %d opened to %q", i, got)
		}
	}
	tests := []struct {
		name   string
		sealed []byte
	}{
		{"nil", nil},
		{"shorter than a nonce", sealed[:5]},
		{"a nonce only", sealed[:12]},
		{"missing the last byte of the tag", sealed[:len(sealed)-1]},
		{"one byte longer", append(bytes.Clone(sealed), 0)},
		{"sealed under another AppSecret", other.seal(plain, owner)},
		{"sealed for another user", s.seal(plain, []byte("o-another-user"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.open(tc.sealed, owner)
			if err == nil {
				t.Fatalf("opened to %q", got)
			}
			if strings.Contains(err.Error(), string(plain)) {
				t.Fatalf("the error %q quotes the plaintext", err)
			}
		})
	}
}
