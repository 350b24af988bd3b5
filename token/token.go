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
	"errors"
	"fmt"
	"time"

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

// KeyStore keeps generated signing keys so that every instance sharing it signs
// and verifies with the same keys. session.Store satisfies it.
type KeyStore interface {
	Get(ctx context.Context, key string) ([]byte, error)
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
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
	// kid is its RFC 7638 thumbprint. When empty, keys are generated and kept
	// in Store, and Store is then ignored.
	SigningKeyPEM []byte
	// Store and KeyPrefix hold generated keys; Store is required without
	// SigningKeyPEM. Epoch e's key (e = floor(now / RotateEvery)) is kept at
	// KeyPrefix + "signing-key:" + e as a JSON JWK, private part included,
	// so the store must be as private as the AppSecret.
	Store     KeyStore
	KeyPrefix string
	// IsNotFound reports whether an error from Store.Get means "no such key"
	// (for session.Store: errors.Is(err, session.ErrNotFound)). Other errors
	// mean the store is unavailable: Verify then returns them without
	// wrapping ErrInvalid, so that callers can answer 503 instead of 401.
	// When nil, every Get error counts as not found, and an unreachable store
	// makes tokens look invalid.
	IsNotFound func(error) bool
	// RotateEvery is how often a generated key is replaced. Old public keys keep
	// verifying until the tokens they signed have expired. Default 24h.
	RotateEvery time.Duration
	// Leeway is the clock skew tolerated on exp, nbf and iat. Default 30s.
	Leeway time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Manager issues and verifies tokens. It is safe for concurrent use.
type Manager struct {
	cfg  Config    // with defaults filled in
	keys keySource // static PEM keys or generated keys in cfg.Store
}

// New checks cfg, loads or creates the signing keys and returns a Manager.
// Without SigningKeyPEM it reads (or creates) the current key in Store, so an
// unreachable store fails here rather than at the first login.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.AppID == "" {
		return nil, errors.New("token: AppID is required")
	}
	if cfg.TTL <= 0 {
		return nil, fmt.Errorf("token: TTL must be positive, got %s", cfg.TTL)
	}
	if cfg.RotateEvery < 0 || cfg.Leeway < 0 {
		return nil, fmt.Errorf("token: RotateEvery (%s) and Leeway (%s) must not be negative", cfg.RotateEvery, cfg.Leeway)
	}
	if cfg.RotateEvery == 0 {
		cfg.RotateEvery = 24 * time.Hour
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
	case cfg.Store != nil:
		keys := newStoreKeys(cfg)
		if _, err := keys.signer(ctx); err != nil {
			return nil, fmt.Errorf("token: loading the current signing key: %w", err)
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
	key, err := m.keys.signer(ctx)
	if err != nil {
		return "", Claims{}, fmt.Errorf("token: issue: %w", err)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", Claims{}, fmt.Errorf("token: issue: generating jti: %w", err)
	}
	// The token holds whole seconds: truncate now, and round exp up so that
	// a sub-second TTL does not yield a token that is already expired.
	iat := m.cfg.Now().UTC().Truncate(time.Second)
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
	return string(signed), c, nil
}

// Verify checks raw's signature against the key named by its "kid" with the
// algorithm pinned to that key, and its iss, aud, exp, nbf and iat. Every
// failure wraps ErrInvalid; a failure to reach the KeyStore does not.
func (m *Manager) Verify(ctx context.Context, raw string) (Claims, error) {
	if len(raw) > MaxSize {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxSize)
	}
	// Only the compact form: reading the header costs decoding, no signature
	// work, and tells which single key may have signed.
	msg, err := jws.Parse([]byte(raw), jws.WithCompact())
	if err != nil {
		return Claims{}, fmt.Errorf("%w: malformed: %w", ErrInvalid, err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return Claims{}, fmt.Errorf("%w: want one signature, got %d", ErrInvalid, len(sigs))
	}
	kid := sigs[0].ProtectedHeaders().KeyID()
	if kid == "" {
		return Claims{}, fmt.Errorf("%w: no kid", ErrInvalid)
	}
	key, err := m.keys.verifier(ctx, kid)
	if err != nil {
		if errors.Is(err, ErrInvalid) {
			return Claims{}, err
		}
		return Claims{}, fmt.Errorf("token: verify: %w", err)
	}
	tok, err := jwt.Parse([]byte(raw),
		jwt.WithKey(key.alg, key.pub),
		jwt.WithValidate(true),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(m.cfg.AppID),
		jwt.WithAcceptableSkew(m.cfg.Leeway),
		jwt.WithClock(jwt.ClockFunc(m.cfg.Now)),
		jwt.WithRequiredClaim(jwt.SubjectKey),
		jwt.WithRequiredClaim(jwt.JwtIDKey),
		jwt.WithRequiredClaim(jwt.IssuedAtKey),
		jwt.WithRequiredClaim(jwt.NotBeforeKey),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// jwx checks presence and containment; these check values it lets pass:
	// an empty sub or jti, an audience list naming other apps too, and time
	// claims of 0, which its validators skip as "unset".
	c := Claims{ID: tok.JwtID(), OpenID: tok.Subject(), IssuedAt: tok.IssuedAt().UTC(), ExpiresAt: tok.Expiration().UTC()}
	switch aud := tok.Audience(); {
	case c.OpenID == "":
		return Claims{}, fmt.Errorf("%w: empty sub", ErrInvalid)
	case c.ID == "":
		return Claims{}, fmt.Errorf("%w: empty jti", ErrInvalid)
	case len(aud) != 1:
		return Claims{}, fmt.Errorf("%w: aud must name exactly one app, got %d", ErrInvalid, len(aud))
	case c.IssuedAt.Unix() <= 0 || c.ExpiresAt.Unix() <= 0 || tok.NotBefore().Unix() <= 0:
		return Claims{}, fmt.Errorf("%w: iat, nbf and exp must be after 1970", ErrInvalid)
	case !c.ExpiresAt.After(c.IssuedAt):
		return Claims{}, fmt.Errorf("%w: exp not after iat", ErrInvalid)
	}
	return c, nil
}
