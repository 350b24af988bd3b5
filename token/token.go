// Package token issues and verifies wxauth's login tokens: JWTs signed with an
// asymmetric key (jwx), naming the user by openid and carrying nothing secret.
//
// A token's protected header is {"alg","kid","typ":"JWT"}; its claims are
// iss (Issuer), aud (the AppID, a plain string), sub (the openid), jti (128
// random bits, base64url), iat, nbf (= iat) and exp (= iat + TTL), in whole
// seconds. The algorithm is pinned per key (EdDSA for Ed25519, ES256 for
// P-256): the header's alg is never trusted.
package token

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Issuer is the value of the "iss" claim of every token.
const Issuer = "caddy-wxauth"

// MaxSize is the longest token Verify parses; longer input is refused before
// any decoding. Real tokens are about 400 bytes.
const MaxSize = 4 << 10

// ErrInvalid is wrapped by every verification failure: malformed, forged,
// wrong algorithm, unknown key, wrong issuer or audience, expired, not yet valid.
var ErrInvalid = errors.New("token: invalid")

// Claims are what a verified token says.
type Claims struct {
	ID        string    // "jti": unique per token; logout revokes it
	OpenID    string    // "sub"
	IssuedAt  time.Time // "iat"
	ExpiresAt time.Time // "exp"
}

// Config configures a Manager.
type Config struct {
	// AppID is the token's audience ("aud"): a token issued for one app_id is
	// refused by a Manager of another. Required.
	AppID string
	// TTL is how long an issued token is valid. Required, positive. Token
	// times have whole-second precision, so exp is iat + TTL rounded up to
	// a second.
	TTL time.Duration
	// SigningKeyPEM, when set, holds one or more PEM private keys: PKCS#8
	// "PRIVATE KEY" (Ed25519 or ECDSA P-256) or SEC1 "EC PRIVATE KEY"
	// (P-256). The first signs; all verify (rotation by hand: put the new key
	// first and keep the old one until its tokens have expired). Each key's
	// kid is its RFC 7638 thumbprint. When empty, keys are generated and
	// shared through Keyring or Store; when set, those are ignored.
	SigningKeyPEM []byte
	// Keyring holds generated keys (see NewKeyring). It outlives Managers, so
	// that what an instance knows of keys survives a config reload: build one
	// per store, KeyPrefix and TTL and hand it to each new Manager. Its TTL
	// must be at least TTL, and its Leeway should be this Leeway (it bounds
	// the clock skew tolerated across a key rotation). With a Keyring, Store,
	// KeyPrefix and RotateEvery must be unset: they are the Keyring's.
	Keyring *Keyring
	// Store and KeyPrefix hold generated keys when Keyring is nil: the
	// Manager builds a Keyring of its own over them (see KeyringConfig for
	// the store keys), which checks the store only when it signs, and is
	// forgotten with the Manager. That suits one process and tests; instances
	// whose configs are reloaded should share a Keyring. The store holds
	// private keys, so it must be as private as the AppSecret.
	Store     KeyStore
	KeyPrefix string
	// RotateEvery is how often a generated key is replaced, for the Keyring
	// built over Store. Old public keys keep verifying until the tokens they
	// signed have expired. Default 24h.
	RotateEvery time.Duration
	// Leeway is the clock skew tolerated on nbf and iat, so that a token from
	// an instance whose clock runs ahead is accepted. It does not extend exp:
	// a token is refused from its exp on. Default 30s.
	Leeway time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Manager issues and verifies tokens. It is safe for concurrent use.
type Manager struct {
	cfg  Config    // with defaults filled in
	keys keySource // static PEM keys or a Keyring
}

// New checks cfg and returns a Manager. It parses SigningKeyPEM but does not
// touch the store: generated keys are read or created by the first Issue,
// Verify or JWKS, so that a config loads while the store is down.
func New(_ context.Context, cfg Config) (*Manager, error) {
	if cfg.AppID == "" {
		return nil, errors.New("token: AppID is required")
	}
	if cfg.TTL <= 0 {
		return nil, fmt.Errorf("token: TTL must be positive, got %s", cfg.TTL)
	}
	if cfg.RotateEvery < 0 || cfg.Leeway < 0 {
		return nil, fmt.Errorf("token: RotateEvery (%s) and Leeway (%s) must not be negative", cfg.RotateEvery, cfg.Leeway)
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Manager{cfg: cfg}
	switch {
	case len(cfg.SigningKeyPEM) > 0:
		keys, err := parsePEMKeys(cfg.SigningKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("token: signing key: %w", err)
		}
		m.keys = keys
		m.cfg.SigningKeyPEM = nil // parsed; no need to keep a second copy of the secret around
	case cfg.Keyring != nil:
		if cfg.Store != nil || cfg.KeyPrefix != "" || cfg.RotateEvery != 0 {
			return nil, errors.New("token: Store, KeyPrefix and RotateEvery are the Keyring's: leave them unset")
		}
		if cfg.TTL > cfg.Keyring.ttl {
			return nil, fmt.Errorf("token: TTL %s is longer than the Keyring's %s: its keys would be forgotten before their tokens expire", cfg.TTL, cfg.Keyring.ttl)
		}
		m.keys = cfg.Keyring
	case cfg.Store != nil:
		keys, err := newKeyring(KeyringConfig{
			Store:       cfg.Store,
			KeyPrefix:   cfg.KeyPrefix,
			TTL:         cfg.TTL,
			RotateEvery: cfg.RotateEvery,
			Leeway:      cfg.Leeway,
			Now:         cfg.Now,
		})
		if err != nil {
			return nil, err
		}
		m.keys = keys
	default:
		return nil, errors.New("token: SigningKeyPEM or Store is required")
	}
	return m, nil
}

// Issue returns a new signed token for openid and its claims.
func (m *Manager) Issue(ctx context.Context, openid string) (string, Claims, error) {
	if openid == "" {
		return "", Claims{}, errors.New("token: issue: empty openid")
	}
	// One reading of the clock picks the key and dates the token, so that
	// iat falls in the epoch of the key that signs it.
	now := m.cfg.Now()
	key, err := m.keys.signer(ctx, now)
	if err != nil {
		return "", Claims{}, fmt.Errorf("token: issue: %w", err)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", Claims{}, fmt.Errorf("token: issue: generating jti: %w", err)
	}
	// The token holds whole seconds: truncate now, and round exp up so that
	// a sub-second TTL does not yield a token that is already expired.
	iat := now.UTC().Truncate(time.Second)
	exp := iat.Add(m.cfg.TTL)
	if t := exp.Truncate(time.Second); !t.Equal(exp) {
		exp = t.Add(time.Second)
	}
	c := Claims{
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
		OpenID:    openid,
		IssuedAt:  iat,
		ExpiresAt: exp,
	}
	tok, err := jwt.NewBuilder().
		Issuer(Issuer).
		Audience([]string{m.cfg.AppID}).
		Subject(c.OpenID).
		JwtID(c.ID).
		IssuedAt(iat).
		NotBefore(iat).
		Expiration(exp).
		Build()
	if err != nil {
		return "", Claims{}, fmt.Errorf("token: issue: building claims: %w", err)
	}
	// "aud" as a plain string, the form most verifiers expect for one audience.
	tok.Options().Enable(jwt.FlattenAudience)
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, key.kid); err != nil {
		return "", Claims{}, fmt.Errorf("token: issue: setting kid: %w", err)
	}
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return "", Claims{}, fmt.Errorf("token: issue: setting typ: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(key.alg, key.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", Claims{}, fmt.Errorf("token: issue: signing: %w", err)
	}
	if key.alg == jwa.ES256 {
		signed = lowS(signed)
	}
	return string(signed), c, nil
}

// Verify checks raw's signature against the key named by its "kid" with the
// algorithm pinned to that key, and its iss, aud, exp, nbf and iat. A token
// is refused from its exp on; nbf and iat may be up to Leeway in the future.
// Every failure wraps ErrInvalid; a failure to reach the KeyStore does not.
//
// jwx parses the compact form and checks the signature; the claims are then
// read into a fixed struct rather than through jwt.Parse, which would parse
// the token a second time and decode its claims generically: that costs
// 16 µs and 160 allocations, paid by every forged token (BENCH.md).
func (m *Manager) Verify(ctx context.Context, raw string) (Claims, error) {
	if len(raw) > MaxSize {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxSize)
	}
	if err := checkCanonical(raw); err != nil {
		return Claims{}, err
	}
	var alg jwa.SignatureAlgorithm // of the key that verified raw
	keyFor := func(ctx context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
		key, err := m.keyFor(ctx, sig)
		if err != nil {
			return err
		}
		alg = key.alg
		sink.Key(key.alg, key.pub)
		return nil
	}
	payload, err := jws.Verify([]byte(raw), jws.WithCompact(), jws.WithContext(ctx), jws.WithKeyProvider(jws.KeyProviderFunc(keyFor)))
	if err != nil {
		if errors.Is(err, ErrInvalid) || isStoreError(err) {
			return Claims{}, err
		}
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if alg == jwa.ES256 && highS(raw) {
		// (r, n−s) verifies as well as (r, s): only the low-S one Issue
		// writes counts, so that a token has one spelling.
		return Claims{}, fmt.Errorf("%w: ES256 signature with a high S", ErrInvalid)
	}
	var pc payloadClaims
	if err := json.Unmarshal(payload, &pc); err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %w", ErrInvalid, err)
	}
	now := m.cfg.Now()
	iat, nbf, exp := time.Unix(pc.IssuedAt, 0).UTC(), time.Unix(pc.NotBefore, 0).UTC(), time.Unix(pc.Expiry, 0).UTC()
	switch {
	case pc.Issuer != Issuer:
		return Claims{}, fmt.Errorf("%w: iss %q is not %q", ErrInvalid, pc.Issuer, Issuer)
	case len(pc.Audience) == 0:
		return Claims{}, fmt.Errorf("%w: no aud", ErrInvalid)
	case len(pc.Audience) != 1 || pc.Audience[0] != m.cfg.AppID:
		return Claims{}, fmt.Errorf("%w: aud must name exactly this app, got %q", ErrInvalid, pc.Audience)
	case pc.Subject == "":
		return Claims{}, fmt.Errorf("%w: no sub", ErrInvalid)
	case pc.ID == "":
		return Claims{}, fmt.Errorf("%w: no jti", ErrInvalid)
	case pc.IssuedAt <= 0 || pc.NotBefore <= 0 || pc.Expiry <= 0:
		// 0 is also what a missing claim decodes to: both are refused.
		return Claims{}, fmt.Errorf("%w: iat, nbf and exp are required and must be after 1970", ErrInvalid)
	case !exp.After(iat):
		return Claims{}, fmt.Errorf("%w: exp not after iat", ErrInvalid)
	case !now.Before(exp): // exp is honoured exactly; the leeway is for clocks ahead
		return Claims{}, fmt.Errorf("%w: expired at %s", ErrInvalid, exp.Format(time.RFC3339))
	case nbf.After(now.Add(m.cfg.Leeway)):
		return Claims{}, fmt.Errorf("%w: nbf is in the future: %s", ErrInvalid, nbf.Format(time.RFC3339))
	case iat.After(now.Add(m.cfg.Leeway)):
		return Claims{}, fmt.Errorf("%w: iat is in the future: %s", ErrInvalid, iat.Format(time.RFC3339))
	}
	return Claims{ID: pc.ID, OpenID: pc.Subject, IssuedAt: iat, ExpiresAt: exp}, nil
}

// keyFor is Verify's jws.KeyProvider: the one key the token's kid names, with
// that key's pinned algorithm, never the header's.
func (m *Manager) keyFor(ctx context.Context, sig *jws.Signature) (*signingKey, error) {
	hdr := sig.ProtectedHeaders()
	kid := hdr.KeyID()
	if kid == "" {
		return nil, fmt.Errorf("%w: no kid", ErrInvalid)
	}
	key, err := m.keys.verifier(ctx, kid)
	if err != nil {
		if errors.Is(err, ErrInvalid) {
			return nil, err
		}
		return nil, &keyStoreError{err}
	}
	if alg := hdr.Algorithm(); alg != key.alg {
		return nil, fmt.Errorf("%w: alg %q, but key %s signs with %q", ErrInvalid, alg, kid, key.alg)
	}
	return key, nil
}

// keyStoreError marks a KeyStore failure inside jws.Verify's error chain, so
// that Verify returns it without ErrInvalid.
type keyStoreError struct{ err error }

func (e *keyStoreError) Error() string { return "token: verify: " + e.err.Error() }
func (e *keyStoreError) Unwrap() error { return e.err }

func isStoreError(err error) bool {
	var se *keyStoreError
	return errors.As(err, &se)
}

// payloadClaims is a token's payload as Verify reads it. Issue writes times
// as whole seconds; a fractional or missing time fails or decodes as 0.
type payloadClaims struct {
	Issuer    string   `json:"iss"`
	Audience  audience `json:"aud"`
	Subject   string   `json:"sub"`
	ID        string   `json:"jti"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Expiry    int64    `json:"exp"`
}

// audience is "aud": RFC 7519 allows a string or a list of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("aud is neither a string nor a list of strings")
	}
	*a = list
	return nil
}
