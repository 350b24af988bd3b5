package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// ErrUnknownKey (wrapping ErrInvalid) is the refusal of a token whose kid
// names no key this instance knows: forged, or signed by a key another
// instance has not published yet.
var ErrUnknownKey = fmt.Errorf("%w: unknown key", ErrInvalid)

// signingKey is one key with everything derived from it once, so that issuing
// and verifying do no key work beyond the signature itself.
type signingKey struct {
	kid  string
	alg  jwa.SignatureAlgorithm // pinned: the token header's alg is never consulted
	priv crypto.Signer          // ed25519.PrivateKey or *ecdsa.PrivateKey; nil for a key known only to verify
	pub  crypto.PublicKey
	jwk  jwk.Key // public only, with kid, alg and use set; for the JWKS
}

// keySource is where a Manager gets its keys: a fixed PEM list or a Keyring.
type keySource interface {
	// signer returns the key that signs tokens issued at now.
	signer(ctx context.Context, now time.Time) (*signingKey, error)
	// verifier returns the key named kid, an error wrapping ErrInvalid when
	// there is none, or another error when the store cannot say.
	verifier(ctx context.Context, kid string) (*signingKey, error)
	// public returns the keys that verify tokens now, the signer first.
	public(ctx context.Context) ([]*signingKey, error)
}

// newSigningKey derives the kid, pinned algorithm and public JWK of priv.
// kidPrefix is prepended to the RFC 7638 thumbprint.
func newSigningKey(priv crypto.Signer, kidPrefix string) (*signingKey, error) {
	switch k := priv.(type) {
	case ed25519.PrivateKey:
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA key on curve %s: only P-256 is supported", k.Curve.Params().Name)
		}
	default:
		return nil, fmt.Errorf("%T keys are not supported: use Ed25519 or ECDSA P-256", priv)
	}
	k, err := newVerifyingKey(priv.Public(), kidPrefix)
	if err != nil {
		return nil, err
	}
	k.priv = priv
	return k, nil
}

// newVerifyingKey is newSigningKey for a key known only by its public half.
func newVerifyingKey(pub crypto.PublicKey, kidPrefix string) (*signingKey, error) {
	var alg jwa.SignatureAlgorithm
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("Ed25519 public key of %d bytes", len(k))
		}
		alg = jwa.EdDSA
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA key on curve %s: only P-256 is supported", k.Curve.Params().Name)
		}
		alg = jwa.ES256
	default:
		return nil, fmt.Errorf("%T keys are not supported: use Ed25519 or ECDSA P-256", pub)
	}
	pubJWK, err := jwk.FromRaw(pub)
	if err != nil {
		return nil, fmt.Errorf("converting public key to JWK: %w", err)
	}
	thumb, err := pubJWK.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("computing JWK thumbprint: %w", err)
	}
	kid := kidPrefix + base64.RawURLEncoding.EncodeToString(thumb)
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: alg, jwk.KeyUsageKey: jwk.ForSignature} {
		if err := pubJWK.Set(name, v); err != nil {
			return nil, fmt.Errorf("setting JWK %q: %w", name, err)
		}
	}
	return &signingKey{kid: kid, alg: alg, pub: pub, jwk: pubJWK}, nil
}

// staticKeys are keys from SigningKeyPEM: the first signs, all verify.
type staticKeys struct {
	list  []*signingKey
	byKID map[string]*signingKey
}

// parsePEMKeys reads every private key in data. PEM's own rules apply: text
// around the blocks is ignored, and EC PARAMETERS blocks (which `openssl
// ecparam -genkey` writes before the key) are skipped since they hold no key.
func parsePEMKeys(data []byte) (*staticKeys, error) {
	s := &staticKeys{byKID: make(map[string]*signingKey)}
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type == "EC PARAMETERS" {
			continue
		}
		k, err := parsePEMBlock(block)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, block.Type, err)
		}
		if _, dup := s.byKID[k.kid]; dup {
			return nil, fmt.Errorf("PEM block %d (%s): key %s appears twice", n, block.Type, k.kid)
		}
		s.list = append(s.list, k)
		s.byKID[k.kid] = k
	}
	if len(s.list) == 0 {
		return nil, errors.New("no PEM private key found: want PKCS#8 \"PRIVATE KEY\" (Ed25519 or ECDSA P-256) or SEC1 \"EC PRIVATE KEY\" (P-256)")
	}
	return s, nil
}

func parsePEMBlock(block *pem.Block) (*signingKey, error) {
	if len(block.Headers) != 0 {
		return nil, errors.New("encrypted or annotated PEM is not supported: store the key unencrypted and protect the file")
	}
	var (
		raw any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		raw, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		raw, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, errors.New("not a supported private key: want \"PRIVATE KEY\" (PKCS#8) or \"EC PRIVATE KEY\" (SEC1)")
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	signer, ok := raw.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T keys are not supported: use Ed25519 or ECDSA P-256", raw)
	}
	return newSigningKey(signer, "")
}

func (s *staticKeys) signer(context.Context, time.Time) (*signingKey, error) { return s.list[0], nil }

func (s *staticKeys) verifier(_ context.Context, kid string) (*signingKey, error) {
	if k, ok := s.byKID[kid]; ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

func (s *staticKeys) public(context.Context) ([]*signingKey, error) { return s.list, nil }

func epochPrefix(e int64) string { return strconv.FormatInt(e, 10) + "." }
