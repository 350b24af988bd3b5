package token

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// JWKS returns the JSON Web Key Set of the public keys that verify tokens now.
// Each key carries kid, alg and use "sig"; the signing key comes first. With
// SigningKeyPEM that is every configured key; with generated keys, every key
// known for the epochs that may still have valid tokens, the store's lists
// re-read every few seconds. While the store cannot be read the keys held in
// memory are served; the store's error is returned only when none is.
func (m *Manager) JWKS(ctx context.Context) ([]byte, error) {
	keys, err := m.keys.public(ctx)
	if err != nil {
		return nil, fmt.Errorf("token: jwks: %w", err)
	}
	set := jwk.NewSet()
	for _, k := range keys {
		// The stored JWKs are public keys built by newSigningKey; no private
		// part can reach this set.
		if err := set.AddKey(k.jwk); err != nil {
			return nil, fmt.Errorf("token: jwks: adding key %s: %w", k.kid, err)
		}
	}
	out, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("token: jwks: encoding: %w", err)
	}
	return out, nil
}
