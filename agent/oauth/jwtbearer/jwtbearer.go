// Package jwtbearer verifies the client assertions of RFC 7523 §2.2: JWTs
// that a customer's Microsoft Entra tenant signs for Workload Identity
// Federation and that Entra presents to the token endpoint as
// client_assertion. docs/federation.md describes the checks for the admin;
// this comment records the decisions.
//
// An assertion is accepted only if every check below passes, in this order:
//
//   - It is at most Options.MaxAssertionBytes long (16 KiB by default),
//     checked before any parsing. Entra's assertions are 1–3 KiB.
//   - It is a JWS in the compact serialization (RFC 7515 §7.1) whose alg is
//     RS256, PS256 or ES256 (RFC 7518 §3.1). go-jose refuses every other alg
//     while parsing, so "none" and the HMAC algorithms never reach a key
//     (RFC 8725 §3.1, §3.2).
//   - Its protected header has a kid, at most maxExtraHeaders parameters
//     beyond the ones go-jose knows, and no crit or b64: this package
//     understands no extension (RFC 7515 §4.1.11). The jku, x5u, jwk and x5c
//     header parameters are never used to find a key (RFC 8725 §3.10): the
//     only keys are the ones served at the configured JWKS URL. typ is not
//     checked (RFC 8725 §3.11 explicit typing): Entra writes the generic
//     "JWT" there, and iss, sub and aud already confine the assertion.
//   - The key with that kid in the JWKS (RFC 7517 §5) exists, has use "sig"
//     or no use, has an alg equal to the header's or none, and has the type
//     the alg needs: RSA of 2048 to 8192 bits for RS256 and PS256, EC P-256
//     for ES256 (RFC 8725 §3.1: the alg must fit the key). The signature
//     verifies with it.
//   - iss and sub equal the configured issuer and subject exactly, and aud
//     (a string or an array, RFC 7519 §4.1.3) has a member equal to the
//     configured audience exactly (RFC 7523 §3 items 1–3).
//   - exp is present and not passed; nbf and iat, when present, are not in
//     the future; each comparison allows MaxClockSkew (RFC 7523 §3 items
//     4–6, RFC 7519 §4.1.4–4.1.6).
//   - The lifetime is bounded: exp - iat (or exp - nbf without iat, or
//     exp - now without either) is at most Options.MaxLifetime, 24 h by
//     default. Entra's example assertion lives 65 minutes, and Entra's
//     configurable token lifetime policies allow at most one day, so 24 h
//     refuses nothing Entra can issue while bounding how long a stolen
//     assertion is useful and how long the replay cache must remember it.
//   - An assertion with a jti was not presented before (RFC 7523 §3
//     item 7, which lets the server require this): see Replay below.
//
// Replay. An assertion with a jti is remembered by (iss, jti) until its exp
// plus MaxClockSkew, and a second presentation is refused (ErrReplayed).
// Entra's assertions carry no jti (Microsoft's example payload in
// AzureAD/SCIMReferenceCode,
// https://github.com/AzureAD/SCIMReferenceCode/blob/master/Workload-Identity-Federation-for-SCIM-Provisioning.md,
// has iss, sub, aud, iat, nbf, exp, appid, oid, tid and ver, but no jti).
// Such an assertion is an access token Entra issued to its provisioning
// service, which caches it like any access token and may present it again
// within its lifetime: for Test Connection and then a cycle, or for two
// cycles 40 minutes apart. Refusing the second presentation would make
// provisioning fail at random, so an assertion without a jti is not
// single-use; what bounds its use is its signature, the exact iss, sub and
// aud, and its lifetime (at most MaxLifetime). docs/federation.md#replay
// says the same for administrators. Only assertions that passed every other
// check are remembered, so forged assertions cannot fill the cache. The cache
// holds at most Options.MaxReplayEntries assertions; when it is full of
// unexpired ones, VerifyAssertion refuses the assertion (ErrReplayCacheFull)
// rather than forget one that could then be replayed.
// The cache lives in the process: agents that share a database each keep
// their own.
//
// Keys. Keys are cached per JWKS URL and by kid. A JWKS is fetched when a
// URL is first used, when its refresh time passed (the response's
// Cache-Control max-age, clamped to [minRefresh, maxRefresh], else
// defaultRefresh, so rotated keys are picked up), and when an assertion
// names a kid the cached set lacks — at most once per refetchInterval (one
// minute) per URL; concurrent requests share one fetch and wait for it
// (singleflight), so none fails while the keys are on their way. A refetch
// replaces the URL's keys, so a key the issuer removed stops verifying. When
// a refresh fails, the keys already cached stay in use (an issuer's key
// endpoint being down for a moment should not stop provisioning). Fetches
// have a timeout and a response size limit, follow no redirect, and need
// https unless Options.AllowHTTPLoopback allows http to a loopback address
// (tests and labs). At most Options.MaxJWKSURLs URLs are cached, the least
// recently used evicted first, and at most Options.MaxKeysPerJWKS keys of
// each set are kept.
package jwtbearer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// MaxClockSkew is the clock skew allowed when comparing exp, nbf and iat with
// the current time (docs/federation.md: at most 5 minutes).
const MaxClockSkew = 5 * time.Minute

// Defaults for the zero fields of Options.
const (
	DefaultMaxAssertionBytes = 16 << 10
	DefaultMaxLifetime       = 24 * time.Hour
	DefaultFetchTimeout      = 10 * time.Second
	DefaultMaxJWKSBytes      = 256 << 10
	DefaultMaxJWKSURLs       = 256
	DefaultMaxKeysPerJWKS    = 32
	DefaultMaxReplayEntries  = 100_000
)

// maxExtraHeaders bounds the JOSE header parameters that go-jose does not
// itself interpret (typ, x5t, cty and the like). Entra's header has four
// parameters in all: typ, alg, x5t and kid.
const maxExtraHeaders = 8

// RSA key sizes accepted: RFC 7518 §3.3 requires at least 2048 bits; the
// upper bound keeps a hostile JWKS from making verification expensive.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// allowedAlgs are the only signature algorithms accepted (docs/federation.md).
var allowedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256}

// The errors VerifyAssertion wraps, so that a caller can tell the reasons
// apart with errors.Is; the wrapping message says what exactly was wrong.
var (
	ErrConfig          = errors.New("the federation is not configured correctly")
	ErrMalformed       = errors.New("the assertion is not a well-formed signed JWT")
	ErrAlgorithm       = errors.New("the assertion's algorithm is not allowed")
	ErrUnknownKey      = errors.New("the assertion's key is not in the JWKS")
	ErrJWKS            = errors.New("the JWKS could not be fetched")
	ErrSignature       = errors.New("the assertion's signature does not verify")
	ErrIssuer          = errors.New("the assertion's issuer (iss) is not the configured one")
	ErrSubject         = errors.New("the assertion's subject (sub) is not the configured one")
	ErrAudience        = errors.New("the assertion's audience (aud) does not include the configured one")
	ErrExpired         = errors.New("the assertion has expired")
	ErrNotYetValid     = errors.New("the assertion is not valid yet")
	ErrLifetime        = errors.New("the assertion's lifetime is too long")
	ErrReplayed        = errors.New("the assertion was presented before")
	ErrReplayCacheFull = errors.New("the replay cache is full")
)

// Options configures a Verifier. The zero value is usable: every zero field
// takes its default.
type Options struct {
	// HTTPClient fetches the JWKS. Nil means a client of its own. The
	// Verifier uses a copy that follows no redirect.
	HTTPClient *http.Client
	// Now returns the current time; nil means time.Now. Tests inject a clock.
	Now func() time.Time
	// AllowHTTPLoopback allows JWKS URLs with http (not only https) when the
	// host is a loopback address. Only tests and lab setups set it.
	AllowHTTPLoopback bool

	// MaxAssertionBytes is the longest assertion parsed (default 16 KiB).
	MaxAssertionBytes int
	// MaxLifetime bounds exp - iat (default 24 h).
	MaxLifetime time.Duration
	// FetchTimeout bounds one JWKS fetch (default 10 s).
	FetchTimeout time.Duration
	// MaxJWKSBytes is the largest JWKS response read (default 256 KiB).
	MaxJWKSBytes int64
	// MaxJWKSURLs bounds the JWKS URLs cached at once (default 256).
	MaxJWKSURLs int
	// MaxKeysPerJWKS bounds the keys kept from one JWKS (default 32).
	MaxKeysPerJWKS int
	// MaxReplayEntries bounds the assertions remembered for replay
	// detection (default 100 000).
	MaxReplayEntries int
}

// Verifier verifies RFC 7523 client assertions against JWKS URLs. It is safe
// for concurrent use; use one per process so that its key and replay caches
// are shared.
type Verifier struct {
	opt    Options
	keys   *keyCache
	replay *replayCache
}

// New returns a Verifier with opt's zero fields set to their defaults.
func New(opt Options) *Verifier {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	orDefault(&opt.MaxAssertionBytes, DefaultMaxAssertionBytes)
	orDefault(&opt.MaxLifetime, DefaultMaxLifetime)
	orDefault(&opt.FetchTimeout, DefaultFetchTimeout)
	orDefault(&opt.MaxJWKSBytes, DefaultMaxJWKSBytes)
	orDefault(&opt.MaxJWKSURLs, DefaultMaxJWKSURLs)
	orDefault(&opt.MaxKeysPerJWKS, DefaultMaxKeysPerJWKS)
	orDefault(&opt.MaxReplayEntries, DefaultMaxReplayEntries)
	client := http.Client{}
	if opt.HTTPClient != nil {
		client = *opt.HTTPClient
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Verifier{
		opt:    opt,
		keys:   newKeyCache(opt, &client),
		replay: newReplayCache(opt.MaxReplayEntries),
	}
}

// orDefault sets *v to def unless *v is positive.
func orDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// VerifyAssertion checks that assertion is a JWT signed by a key of the JWKS
// at jwksURL, issued by issuer for subject and audience, currently valid, and
// not presented before; the package comment lists every check. It returns nil
// only if all pass; otherwise the error wraps one of the Err values and says
// what was wrong (for logs; the token endpoint answers invalid_client).
func (v *Verifier) VerifyAssertion(ctx context.Context, assertion, issuer, subject, audience, jwksURL string) error {
	if issuer == "" || subject == "" || audience == "" || jwksURL == "" {
		return fmt.Errorf("%w: the issuer, subject, audience and JWKS URL must all be set", ErrConfig)
	}
	if len(assertion) > v.opt.MaxAssertionBytes {
		return fmt.Errorf("%w: it is %d bytes long, more than the %d allowed", ErrMalformed, len(assertion), v.opt.MaxAssertionBytes)
	}
	jws, err := jose.ParseSignedCompact(assertion, allowedAlgs)
	if err != nil {
		var algErr *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &algErr) {
			return fmt.Errorf("%w: %w", ErrAlgorithm, err)
		}
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	h := jws.Signatures[0].Protected
	if err := checkHeader(h); err != nil {
		return err
	}
	alg := jose.SignatureAlgorithm(h.Algorithm)
	key, err := v.keys.key(ctx, jwksURL, h.KeyID)
	if err != nil {
		return err
	}
	if err := keyFits(key, alg); err != nil {
		return fmt.Errorf("%w: key %q: %w", ErrAlgorithm, h.KeyID, err)
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return fmt.Errorf("%w: %s with key %q: %w", ErrSignature, alg, h.KeyID, err)
	}
	var c jwt.Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return fmt.Errorf("%w: its claims: %w", ErrMalformed, err)
	}
	now := v.opt.Now()
	if err := checkClaims(&c, issuer, subject, audience, now, v.opt.MaxLifetime); err != nil {
		return err
	}
	if c.ID == "" {
		return nil // not single-use: see Replay in the package comment
	}
	return v.replay.add(replayKey(&c), c.Expiry.Time().Add(MaxClockSkew), now)
}

// checkHeader refuses headers this package does not understand (RFC 7515
// §4.1.11) or that are unusually large, and asks for a kid.
func checkHeader(h jose.Header) error {
	if len(h.ExtraHeaders) > maxExtraHeaders {
		return fmt.Errorf("%w: its header has %d parameters beyond alg, kid, jwk, x5c and nonce; at most %d are accepted",
			ErrMalformed, len(h.ExtraHeaders), maxExtraHeaders)
	}
	for _, name := range []jose.HeaderKey{"crit", "b64"} {
		if _, ok := h.ExtraHeaders[name]; ok {
			return fmt.Errorf("%w: its header has %q; no JWS extension is supported", ErrMalformed, name)
		}
	}
	if h.KeyID == "" {
		return fmt.Errorf("%w: its header has no kid to choose the key by (RFC 7515 §4.1.4)", ErrMalformed)
	}
	return nil
}

// keyFits checks that alg may be used with key (RFC 8725 §3.1): the key's
// own alg, if any, is alg, and the key's type and size are the ones alg
// needs.
func keyFits(key *jose.JSONWebKey, alg jose.SignatureAlgorithm) error {
	if key.Algorithm != "" && key.Algorithm != string(alg) {
		return fmt.Errorf("the JWKS declares it for %s, but the assertion uses %s", key.Algorithm, alg)
	}
	switch k := key.Key.(type) {
	case *rsa.PublicKey:
		if alg != jose.RS256 && alg != jose.PS256 {
			return fmt.Errorf("an RSA key cannot verify %s", alg)
		}
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return fmt.Errorf("an RSA key of %d bits is outside %d–%d", bits, minRSABits, maxRSABits)
		}
	case *ecdsa.PublicKey:
		if alg != jose.ES256 {
			return fmt.Errorf("an EC key cannot verify %s", alg)
		}
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("ES256 needs a P-256 key, not %s", k.Curve.Params().Name)
		}
	default:
		return fmt.Errorf("a %T key is not accepted", key.Key)
	}
	return nil
}

// checkClaims checks the registered claims of RFC 7519 §4.1 as RFC 7523 §3
// asks, allowing MaxClockSkew.
func checkClaims(c *jwt.Claims, issuer, subject, audience string, now time.Time, maxLifetime time.Duration) error {
	if c.Issuer != issuer {
		return fmt.Errorf("%w: got %q, want %q", ErrIssuer, c.Issuer, issuer)
	}
	if c.Subject != subject {
		return fmt.Errorf("%w: got %q, want %q", ErrSubject, c.Subject, subject)
	}
	if !c.Audience.Contains(audience) {
		return fmt.Errorf("%w: got %q, want %q", ErrAudience, []string(c.Audience), audience)
	}
	if c.Expiry == nil {
		return fmt.Errorf("%w: it has no exp (RFC 7523 §3 item 4)", ErrMalformed)
	}
	exp := c.Expiry.Time()
	if !now.Before(exp.Add(MaxClockSkew)) {
		return fmt.Errorf("%w: exp %s is before now %s minus %s of clock skew",
			ErrExpired, exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), MaxClockSkew)
	}
	if c.NotBefore != nil && now.Add(MaxClockSkew).Before(c.NotBefore.Time()) {
		return fmt.Errorf("%w: nbf %s is after now %s plus %s of clock skew",
			ErrNotYetValid, c.NotBefore.Time().UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), MaxClockSkew)
	}
	start, from := now, "now"
	if c.NotBefore != nil {
		start, from = c.NotBefore.Time(), "nbf"
	}
	if c.IssuedAt != nil {
		iat := c.IssuedAt.Time()
		if now.Add(MaxClockSkew).Before(iat) {
			return fmt.Errorf("%w: iat %s is after now %s plus %s of clock skew",
				ErrNotYetValid, iat.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), MaxClockSkew)
		}
		start, from = iat, "iat"
	}
	if life := exp.Sub(start); life > maxLifetime {
		return fmt.Errorf("%w: exp is %s after %s; at most %s is accepted", ErrLifetime, life, from, maxLifetime)
	}
	return nil
}

// replayKey identifies an assertion with a jti for replay detection: its
// (iss, jti).
func replayKey(c *jwt.Claims) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(c.Issuer))
	h.Write([]byte("\x00"))
	h.Write([]byte(c.ID))
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}
