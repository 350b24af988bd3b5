package token

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/wxauth/caddy-wxauth/session"
)

// How a Keyring's keys sit in the store. For epoch e:
//
//	KeyPrefix + "signing-key:" + e  the key that signs: a private JWK, written
//	                                with SetNX, so that one key wins a race
//	KeyPrefix + "public-keys:" + e  every key published for e, newest first:
//	                                public JWKs, at most keepKeys
//
// Both live keyTTL. An instance signs only with a key on the list. The list
// has one key unless the store lost its data while instances held different
// keys.

func (k *Keyring) signerKey(e int64) string {
	return k.prefix + "signing-key:" + strconv.FormatInt(e, 10)
}

func (k *Keyring) listKey(e int64) string {
	return k.prefix + "public-keys:" + strconv.FormatInt(e, 10)
}

// loadSigner returns the key the store names for epoch e, generating and
// storing one if no instance has yet; SetNX decides a race and the loser uses
// the winner's key. The key is on the epoch's list before it signs.
func (k *Keyring) loadSigner(ctx context.Context, e int64) (*signingKey, error) {
	k.noteCheck() // reading the signing key is the check
	key, err := k.readSigner(ctx, e)
	if errors.Is(err, ErrUnknownKey) {
		key, err = k.createSigner(ctx, e)
	}
	if err != nil {
		return nil, err
	}
	if err := k.ensureListed(ctx, e, key); err != nil {
		return nil, err
	}
	k.setSigner(e, key)
	return key, nil
}

// createSigner generates a key and stores it as epoch e's signing key, or
// returns the key another instance stored first.
func (k *Keyring) createSigner(ctx context.Context, e int64) (*signingKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating signing key: %w", err)
	}
	key, err := newSigningKey(priv, epochPrefix(e))
	if err != nil {
		return nil, err
	}
	won, err := k.storeSigner(ctx, e, key)
	if err != nil || won {
		return key, err
	}
	key, err = k.readSigner(ctx, e)
	if errors.Is(err, ErrUnknownKey) {
		return nil, fmt.Errorf("signing key for epoch %d vanished after another instance stored it", e)
	}
	return key, err
}

// ensureListed pushes key onto epoch e's list unless it is there. Its creator
// pushes it, but that Push may have failed, or the creator may be an older
// version that kept no lists; signing only with listed keys lets verifiers
// rely on the list. One List per epoch and instance, when it starts signing.
func (k *Keyring) ensureListed(ctx context.Context, e int64, key *signingKey) error {
	now := k.now()
	listed, err := k.readList(ctx, e)
	if err != nil {
		return err
	}
	k.learn(e, listed, now)
	if slices.ContainsFunc(listed, func(l *signingKey) bool { return l.kid == key.kid }) {
		return nil
	}
	return k.push(ctx, e, key)
}

// push adds key to epoch e's list.
func (k *Keyring) push(ctx context.Context, e int64, key *signingKey) error {
	pub, err := json.Marshal(key.jwk)
	if err != nil {
		return fmt.Errorf("encoding public key %s: %w", key.kid, err)
	}
	if err := k.store.Push(ctx, k.listKey(e), pub, keepKeys, k.keyTTL); err != nil {
		return fmt.Errorf("publishing key %s: %w", key.kid, err)
	}
	return nil
}

// storeSigner stores key as epoch e's signing key unless the store names one
// already, and reports whether it did.
func (k *Keyring) storeSigner(ctx context.Context, e int64, key *signingKey) (bool, error) {
	privJWK, err := jwk.FromRaw(key.priv)
	if err != nil {
		return false, fmt.Errorf("converting signing key to JWK: %w", err)
	}
	value, err := json.Marshal(privJWK)
	if err != nil {
		return false, fmt.Errorf("encoding signing key: %w", err)
	}
	won, err := k.store.SetNX(ctx, k.signerKey(e), value, k.keyTTL)
	if err != nil {
		return false, fmt.Errorf("storing signing key for epoch %d: %w", e, err)
	}
	return won, nil
}

// readSigner reads epoch e's signing key. Absent: ErrUnknownKey. Unreachable or
// unreadable: an error that does not wrap ErrInvalid.
func (k *Keyring) readSigner(ctx context.Context, e int64) (*signingKey, error) {
	value, err := k.store.Get(ctx, k.signerKey(e))
	if err != nil {
		if errors.Is(err, session.ErrNotFound) {
			return nil, ErrUnknownKey
		}
		return nil, fmt.Errorf("reading signing key for epoch %d: %w", e, err)
	}
	privJWK, err := jwk.ParseKey(value)
	if err != nil {
		return nil, fmt.Errorf("decoding signing key for epoch %d: %w", e, err)
	}
	// Check the kind before converting: jwx would happily turn an "oct" key's
	// bytes into an ed25519.PrivateKey of the wrong length.
	var raw any
	if privJWK.KeyType() == jwa.OKP {
		if err := privJWK.Raw(&raw); err != nil {
			return nil, fmt.Errorf("decoding signing key for epoch %d: %w", e, err)
		}
	}
	priv, ok := raw.(ed25519.PrivateKey)
	if !ok || len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("signing key for epoch %d is not an Ed25519 private key (kty %s)", e, privJWK.KeyType())
	}
	return newSigningKey(priv, epochPrefix(e))
}

// readEpoch reads the keys published for epoch e and remembers them. The
// first read of an epoch whose list is empty also reads its signing key, for
// keys stored by an older version that kept no lists; later reads of the
// epoch read only the list, so that forged kids cost one read per missTTL.
func (k *Keyring) readEpoch(ctx context.Context, e int64) error {
	now := k.now()
	first := k.neverRead(e)
	keys, err := k.readList(ctx, e)
	if err != nil {
		return err
	}
	if len(keys) == 0 && first {
		key, err := k.readSigner(ctx, e)
		switch {
		case err == nil:
			keys = append(keys, key)
		case !errors.Is(err, ErrUnknownKey):
			return err
		}
	}
	k.learn(e, keys, now)
	return nil
}

// readList returns the keys published for epoch e. An entry that is not an
// Ed25519 public JWK is skipped: one bad entry must not stop the others from
// verifying. Each key's kid is derived from the key, never read.
func (k *Keyring) readList(ctx context.Context, e int64) ([]*signingKey, error) {
	values, err := k.store.List(ctx, k.listKey(e))
	if err != nil {
		return nil, fmt.Errorf("reading public keys for epoch %d: %w", e, err)
	}
	keys := make([]*signingKey, 0, len(values))
	for _, v := range values {
		pubJWK, err := jwk.ParseKey(v)
		if err != nil || pubJWK.KeyType() != jwa.OKP {
			continue
		}
		var raw any
		if err := pubJWK.Raw(&raw); err != nil {
			continue
		}
		pub, ok := raw.(ed25519.PublicKey)
		if !ok {
			continue
		}
		key, err := newVerifyingKey(pub, epochPrefix(e))
		if err != nil {
			continue
		}
		keys = append(keys, key)
	}
	return keys, nil
}
