package jwtbearer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rosterhq/roster/agent/oauth/jwtbearer"
	"github.com/rosterhq/roster/internal/fakeissuer"
)

// FuzzVerifyAssertion feeds arbitrary assertions to VerifyAssertion against
// the fake issuer's JWKS, seeded with valid assertions of each alg and the
// refused shapes. It must never panic, every refusal must wrap one of the
// package's errors, and no input is ever accepted twice.
func FuzzVerifyAssertion(f *testing.F) {
	iss := fakeissuer.New(f)
	clk := newClock()
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256} {
		f.Add(iss.SignWith(alg, claims(iss, clk)))
		f.Add(iss.SignWith(alg, iss.Claims(subject, audience, clk.Now())))
	}
	issuerKID := kidOf(f, iss.Sign(claims(iss, clk)))
	f.Add(iss.Sign(claims(iss, clk, func(c map[string]any) { c["aud"] = []string{"x", audience} })))
	f.Add(iss.Sign(claims(iss, clk, func(c map[string]any) { delete(c, "exp") })))
	f.Add(iss.Sign(claims(iss, clk, func(c map[string]any) { c["nbf"] = clk.Now().Add(time.Hour).Unix() })))
	f.Add(unsigned(f, map[string]any{"alg": "none", "kid": issuerKID}, claims(iss, clk), nil))
	f.Add(signRaw(f, jose.HS256, []byte(strings.Repeat("k", 32)), issuerKID, claims(iss, clk), nil, false))
	f.Add(signRaw(f, jose.RS256, rsaKey1(), issuerKID, claims(iss, clk), map[jose.HeaderKey]any{"jku": "http://127.0.0.1:1/keys", "crit": []string{"x"}}, true))
	f.Add("")
	f.Add("a.b.c")

	// Every exported error VerifyAssertion may wrap.
	known := []error{
		jwtbearer.ErrConfig, jwtbearer.ErrMalformed, jwtbearer.ErrAlgorithm, jwtbearer.ErrUnknownKey,
		jwtbearer.ErrJWKS, jwtbearer.ErrSignature, jwtbearer.ErrIssuer, jwtbearer.ErrSubject,
		jwtbearer.ErrAudience, jwtbearer.ErrExpired, jwtbearer.ErrNotYetValid, jwtbearer.ErrLifetime,
		jwtbearer.ErrReplayed, jwtbearer.ErrReplayCacheFull,
	}
	v := newVerifier(clk, jwtbearer.Options{})
	f.Fuzz(func(t *testing.T, assertion string) {
		verify := func() error {
			return v.VerifyAssertion(context.Background(), assertion, iss.Issuer(), subject, audience, iss.JWKSURL())
		}
		first := verify()
		if first != nil {
			ok := false
			for _, k := range known {
				ok = ok || errors.Is(first, k)
			}
			if !ok {
				t.Fatalf("VerifyAssertion = %v, which wraps none of the package's errors", first)
			}
		}
		second := verify()
		switch {
		case first != nil:
		case hasJTI(assertion) && !errors.Is(second, jwtbearer.ErrReplayed):
			t.Fatalf("the same assertion with a jti twice: first accepted, then %v; want ErrReplayed", second)
		case !hasJTI(assertion) && second != nil:
			t.Fatalf("the same assertion without a jti twice: first accepted, then %v; want accepted again", second)
		}
	})
}

// hasJTI reports whether a compact JWS's payload has a non-empty jti.
func hasJTI(assertion string) bool {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c struct {
		ID string `json:"jti"`
	}
	return json.Unmarshal(b, &c) == nil && c.ID != ""
}
