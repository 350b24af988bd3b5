package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"golang.org/x/sync/singleflight"
)

// missTTL is how long a verifier remembers that the store has no key for an
// epoch, so that a flood of forged kids costs one store read per epoch per missTTL.
const missTTL = time.Second

// errNoKey is the lookup failure a forged or stale kid produces.
var errNoKey = fmt.Errorf("%w: unknown key", ErrInvalid)

// signingKey is one key pair with everything derived from it once, so that
// issuing and verifying do no key work beyond the signature itself.
type signingKey struct {
	kid  string
	alg  jwa.SignatureAlgorithm // pinned: the token header's alg is never consulted
	priv crypto.Signer          // ed25519.PrivateKey or *ecdsa.PrivateKey
	pub  crypto.PublicKey
	jwk  jwk.Key // public only, with kid, alg and use set; for the JWKS
}

// keySource is where a Manager gets its keys: a fixed PEM list or a KeyStore.
type keySource interface {
	// signer returns the key that signs tokens now.
	signer(ctx context.Context) (*signingKey, error)
	// verifier returns the key named kid, an error wrapping ErrInvalid when
	// there is none, or another error when the store cannot say.
	verifier(ctx context.Context, kid string) (*signingKey, error)
	// public returns the keys that verify tokens now, the signer first.
	public(ctx context.Context) ([]*signingKey, error)
}

// newSigningKey derives the kid, pinned algorithm and public JWK of priv.
// kidPrefix is prepended to the RFC 7638 thumbprint.
func newSigningKey(priv crypto.Signer, kidPrefix string) (*signingKey, error) {
	var alg jwa.SignatureAlgorithm
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		alg = jwa.EdDSA
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA key on curve %s: only P-256 is supported", k.Curve.Params().Name)
		}
		alg = jwa.ES256
	default:
		return nil, fmt.Errorf("%T keys are not supported: use Ed25519 or ECDSA P-256", priv)
	}
	pub := priv.Public()
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
	return &signingKey{kid: kid, alg: alg, priv: priv, pub: pub, jwk: pubJWK}, nil
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

func (s *staticKeys) signer(context.Context) (*signingKey, error) { return s.list[0], nil }

func (s *staticKeys) verifier(_ context.Context, kid string) (*signingKey, error) {
	if k, ok := s.byKID[kid]; ok {
		return k, nil
	}
	return nil, errNoKey
}

func (s *staticKeys) public(context.Context) ([]*signingKey, error) { return s.list, nil }

// storeKeys are generated Ed25519 keys shared through a KeyStore, one per
// epoch (floor(now / RotateEvery)). The kid starts with the epoch so that a
// verifier knows which store key to read, and can refuse epochs that cannot
// hold a valid token before reading anything.
type storeKeys struct {
	store      KeyStore
	prefix     string
	isNotFound func(error) bool
	now        func() time.Time
	every      time.Duration
	keyTTL     time.Duration // how long a key stays in the store
	back       int64         // how many epochs before the current one may still have valid tokens
	leeway     time.Duration

	loads singleflight.Group // one store round trip per epoch, however many callers wait

	mu     sync.Mutex
	keys   map[int64]*signingKey
	misses map[int64]time.Time // epoch → until when "not in the store" is believed
}

func newStoreKeys(cfg Config) *storeKeys {
	isNotFound := cfg.IsNotFound
	if isNotFound == nil {
		isNotFound = func(error) bool { return true }
	}
	return &storeKeys{
		store:      cfg.Store,
		prefix:     cfg.KeyPrefix + "signing-key:",
		isNotFound: isNotFound,
		now:        cfg.Now,
		every:      cfg.RotateEvery,
		// A key is created at the earliest at the start of its epoch and signs
		// until the epoch ends; its last token is accepted until TTL+Leeway later.
		keyTTL: 2*cfg.RotateEvery + cfg.TTL + cfg.Leeway,
		back:   ceilDiv(cfg.TTL+cfg.Leeway, cfg.RotateEvery) + 1,
		leeway: cfg.Leeway,
		keys:   make(map[int64]*signingKey),
		misses: make(map[int64]time.Time),
	}
}

// epoch is the rotation period t falls in (floor division, so it is also
// right before 1970).
func (s *storeKeys) epoch(t time.Time) int64 {
	n, d := t.UnixNano(), int64(s.every)
	e := n / d
	if n%d < 0 {
		e--
	}
	return e
}

// window is the range of epochs whose keys may have signed a token that is
// valid now. The upper end tolerates another instance's clock running up to
// Leeway ahead across an epoch boundary; anything newer is forged.
func (s *storeKeys) window(now time.Time) (lo, hi int64) {
	cur := s.epoch(now)
	return cur - s.back, s.epoch(now.Add(s.leeway))
}

func (s *storeKeys) storeKey(epoch int64) string {
	return s.prefix + strconv.FormatInt(epoch, 10)
}

func (s *storeKeys) cached(epoch int64) *signingKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[epoch]
}

// remember caches k and forgets keys and misses that have left the window.
func (s *storeKeys) remember(epoch int64, k *signingKey) {
	now := s.now()
	lo, _ := s.window(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[epoch] = k
	delete(s.misses, epoch)
	for e := range s.keys {
		if e < lo {
			delete(s.keys, e)
		}
	}
	for e, until := range s.misses {
		if now.After(until) {
			delete(s.misses, e)
		}
	}
}

func (s *storeKeys) signer(ctx context.Context) (*signingKey, error) {
	e := s.epoch(s.now())
	if k := s.cached(e); k != nil {
		return k, nil
	}
	v, err, _ := s.loads.Do("sign:"+strconv.FormatInt(e, 10), func() (any, error) {
		if k := s.cached(e); k != nil {
			return k, nil // loaded by a caller that finished just before
		}
		k, err := s.loadOrCreate(ctx, e)
		if err != nil {
			return nil, err
		}
		s.remember(e, k)
		return k, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*signingKey), nil
}

// loadOrCreate returns epoch e's key, generating and publishing it if no
// instance has yet. SetNX decides a race; the loser uses the winner's key.
func (s *storeKeys) loadOrCreate(ctx context.Context, e int64) (*signingKey, error) {
	k, err := s.load(ctx, e)
	if err == nil || !errors.Is(err, errNoKey) {
		return k, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating signing key: %w", err)
	}
	privJWK, err := jwk.FromRaw(priv)
	if err != nil {
		return nil, fmt.Errorf("converting signing key to JWK: %w", err)
	}
	value, err := json.Marshal(privJWK)
	if err != nil {
		return nil, fmt.Errorf("encoding signing key: %w", err)
	}
	won, err := s.store.SetNX(ctx, s.storeKey(e), value, s.keyTTL)
	if err != nil {
		return nil, fmt.Errorf("storing signing key for epoch %d: %w", e, err)
	}
	if won {
		return newSigningKey(priv, epochPrefix(e))
	}
	k, err = s.load(ctx, e)
	if errors.Is(err, errNoKey) {
		return nil, fmt.Errorf("signing key for epoch %d vanished after another instance stored it", e)
	}
	return k, err
}

// load reads epoch e's key from the store. Absent: errNoKey. Unreachable or
// unreadable: an error that does not wrap ErrInvalid.
func (s *storeKeys) load(ctx context.Context, e int64) (*signingKey, error) {
	value, err := s.store.Get(ctx, s.storeKey(e))
	if err != nil {
		if s.isNotFound(err) {
			return nil, errNoKey
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

func (s *storeKeys) verifier(ctx context.Context, kid string) (*signingKey, error) {
	head, _, ok := strings.Cut(kid, ".")
	if !ok {
		return nil, errNoKey
	}
	e, err := strconv.ParseInt(head, 10, 64)
	if err != nil {
		return nil, errNoKey
	}
	if lo, hi := s.window(s.now()); e < lo || e > hi {
		return nil, errNoKey // never touch the store for attacker-chosen epochs
	}
	k, err := s.lookup(ctx, e)
	if err != nil {
		return nil, err
	}
	// The epoch prefix only routes the lookup; the whole kid must match, so
	// "+5.x" or "05.x" do not alias epoch 5's key.
	if k.kid != kid {
		return nil, errNoKey
	}
	return k, nil
}

// lookup returns epoch e's key from the cache or the store, remembering a
// miss for missTTL.
func (s *storeKeys) lookup(ctx context.Context, e int64) (*signingKey, error) {
	if k, err, ok := s.fromCache(e); ok {
		return k, err
	}
	v, err, _ := s.loads.Do("load:"+strconv.FormatInt(e, 10), func() (any, error) {
		// Checked again: a caller that missed the cache just before another
		// caller's load finished must not read the store a second time.
		if k, err, ok := s.fromCache(e); ok {
			return k, err
		}
		k, err := s.load(ctx, e)
		switch {
		case err == nil:
			s.remember(e, k)
		case errors.Is(err, errNoKey):
			s.mu.Lock()
			s.misses[e] = s.now().Add(missTTL)
			s.mu.Unlock()
		}
		return k, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*signingKey), nil
}

// fromCache answers from memory when it can: ok is false when the store
// must be asked.
func (s *storeKeys) fromCache(e int64) (k *signingKey, err error, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.keys[e]; k != nil {
		return k, nil, true
	}
	if until, missed := s.misses[e]; missed && s.now().Before(until) {
		return nil, errNoKey, true
	}
	return nil, nil, false
}

func (s *storeKeys) public(ctx context.Context) ([]*signingKey, error) {
	// The current signer first, created if need be, so that a JWKS fetched
	// before the first login of an epoch already lists the key that will sign.
	cur, err := s.signer(ctx)
	if err != nil {
		return nil, err
	}
	keys := []*signingKey{cur}
	lo, hi := s.window(s.now())
	for e := hi; e >= lo; e-- {
		k, err := s.lookup(ctx, e)
		if errors.Is(err, errNoKey) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if k != cur {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func epochPrefix(e int64) string { return strconv.FormatInt(e, 10) + "." }

func ceilDiv(a, b time.Duration) int64 {
	return int64((a + b - 1) / b)
}
