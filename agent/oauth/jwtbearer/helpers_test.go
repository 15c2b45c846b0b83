package jwtbearer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/rosterhq/roster/agent/oauth/jwtbearer"
	"github.com/rosterhq/roster/internal/fakeissuer"
)

// The subject and audience of the federation under test, shaped like the
// values the Entra portal shows.
const (
	subject  = "9f6d2c1a-7b7e-4a55-8a2c-3d1b2e4f5a6b"
	audience = "api://b5ba7a93-4452-4522-aeb4-a2b5da870c16"
)

// entraIAT is the iat of Entra's example assertion; tests start their clock there.
var entraIAT = time.Unix(1772175916, 0)

// clock is an injected clock that tests move forward.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: entraIAT} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newVerifier returns a Verifier on clk that may fetch JWKS over http from
// 127.0.0.1, with opt's other fields.
func newVerifier(clk *clock, opt jwtbearer.Options) *jwtbearer.Verifier {
	opt.Now = clk.Now
	opt.AllowHTTPLoopback = true
	return jwtbearer.New(opt)
}

// fixture is a fake issuer with a verifier of its assertions on a clock.
type fixture struct {
	iss *fakeissuer.Issuer
	clk *clock
	v   *jwtbearer.Verifier
}

func newFixture(t testing.TB, opt jwtbearer.Options) *fixture {
	clk := newClock()
	return &fixture{iss: fakeissuer.New(t), clk: clk, v: newVerifier(clk, opt)}
}

// verify verifies token as the federation under test.
func (f *fixture) verify(token string) error {
	return f.v.VerifyAssertion(context.Background(), token, f.iss.Issuer(), subject, audience, f.iss.JWKSURL())
}

// claims returns Entra-shaped claims for subject and audience at clk's time,
// with a new jti, edited by edits.
func claims(iss *fakeissuer.Issuer, clk *clock, edits ...func(map[string]any)) map[string]any {
	c := iss.Claims(subject, audience, clk.Now())
	c["jti"] = uuid.NewString()
	for _, e := range edits {
		e(c)
	}
	return c
}

// Keys of the tests' own making (an attacker's, or a custom JWKS's),
// generated once.
var (
	rsaKey1 = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	rsaKey2 = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	ecKey1  = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// signRaw signs claims with key under kid and alg, adding the header
// parameters extra (and the jwk header when embed is set).
func signRaw(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims any, extra map[jose.HeaderKey]any, embed bool) string {
	t.Helper()
	opts := (&jose.SignerOptions{EmbedJWK: embed}).WithType("JWT")
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	sk := jose.SigningKey{Algorithm: alg, Key: key}
	if kid != "" && !embed {
		sk.Key = jose.JSONWebKey{Key: key, KeyID: kid}
	}
	if embed {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(sk, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsigned builds a compact JWS from a header and claims, and a signature.
func unsigned(t testing.TB, header, claims any, sig []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(c) + "." + enc(sig)
}

// kidOf returns the kid in a token's header.
func kidOf(t testing.TB, token string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Protected.KeyID
}

// jwksServer serves a JWKS (the same at every path) and counts fetches per
// path.
type jwksServer struct {
	ts *httptest.Server

	mu           sync.Mutex
	body         []byte
	status       int
	cacheControl string
	redirect     string
	block        bool          // hold every request until the client gives up
	gate         chan struct{} // if set, hold every request until it is closed
	fetches      map[string]int
}

func newJWKSServer(t testing.TB, keys ...jose.JSONWebKey) *jwksServer {
	s := &jwksServer{status: http.StatusOK, fetches: map[string]int{}}
	s.setKeys(t, keys...)
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.ts.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.fetches[r.URL.Path]++
	body, status, cc, redirect, block, gate := s.body, s.status, s.cacheControl, s.redirect, s.block, s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if block {
		<-r.Context().Done()
		return
	}
	if redirect != "" {
		http.Redirect(w, r, redirect, http.StatusFound)
		return
	}
	if cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// setKeys serves the public halves of keys.
func (s *jwksServer) setKeys(t testing.TB, keys ...jose.JSONWebKey) {
	t.Helper()
	raw := make([]json.RawMessage, len(keys))
	for i, k := range keys {
		b, err := k.Public().MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		raw[i] = b
	}
	s.setBody(t, map[string]any{"keys": raw})
}

// setBody serves v as JSON.
func (s *jwksServer) setBody(t testing.TB, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.body = b
	s.mu.Unlock()
}

func (s *jwksServer) set(f func(s *jwksServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *jwksServer) url(path string) string { return s.ts.URL + path }

func (s *jwksServer) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[path]
}

// ownClaims returns valid claims for a token verified against a jwksServer,
// with issuer issuer.
func ownClaims(issuer string, now time.Time) map[string]any {
	return map[string]any{
		"iss": issuer, "sub": subject, "aud": audience, "jti": uuid.NewString(),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// contains reports whether err's message contains every one of parts.
func contains(err error, parts ...string) bool {
	if err == nil {
		return false
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			return false
		}
	}
	return true
}
