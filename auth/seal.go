package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// DeriveSealKey derives the key that encrypts session_keys at rest from the
// AppSecret, which never enters the store: a store dump alone reveals no
// session_key, and every instance with the same AppSecret derives the same key.
func DeriveSealKey(appSecret string) ([]byte, error) {
	if appSecret == "" {
		return nil, errors.New("derive seal key: empty secret")
	}
	return hkdf.Key(sha256.New, []byte(appSecret), nil, "caddy-wxauth session_key seal v1", 32)
}

// sealer encrypts small secrets with AES-256-GCM, a random nonce in front.
// Each is sealed to its owner (associated data, such as the openid), so a
// sealed session_key copied into another user's list does not open there.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("seal key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(plain, owner []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	rand.Read(nonce) // never fails (crypto/rand)
	return s.aead.Seal(nonce, nonce, plain, owner)
}

func (s *sealer) open(sealed, owner []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], owner)
	if err != nil {
		return nil, fmt.Errorf("open sealed value: %w", err)
	}
	return plain, nil
}
