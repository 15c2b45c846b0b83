package jwtbearer_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rosterhq/roster/agent/oauth/jwtbearer"
	"github.com/rosterhq/roster/internal/fakeissuer"
)

// TestAccepted shows the assertions that pass every check.
func TestAccepted(t *testing.T) {
	iss := fakeissuer.New(t)
	clk := newClock()
	tests := []struct {
		name  string
		token func() string
	}{
		{"valid RS256", func() string { return iss.SignWith(jose.RS256, claims(iss, clk)) }},
		{"valid PS256", func() string { return iss.SignWith(jose.PS256, claims(iss, clk)) }},
		{"valid ES256", func() string { return iss.SignWith(jose.ES256, claims(iss, clk)) }},
		{"Entra-shaped, without jti", func() string {
			c := iss.Claims(subject, audience, clk.Now())
			return iss.Sign(c)
		}},
		{"aud an array holding the audience", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) { c["aud"] = []string{"api://other", audience} }))
		}},
		{"expired less than the clock skew ago", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) {
				c["iat"], c["nbf"], c["exp"] = clk.Now().Add(-time.Hour).Unix(), clk.Now().Add(-time.Hour).Unix(), clk.Now().Add(-4*time.Minute).Unix()
			}))
		}},
		{"nbf and iat less than the clock skew ahead", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) {
				c["iat"], c["nbf"] = clk.Now().Add(4*time.Minute).Unix(), clk.Now().Add(4*time.Minute).Unix()
			}))
		}},
		{"lifetime of exactly 24 hours", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) { c["exp"] = clk.Now().Add(24 * time.Hour).Unix() }))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(clk, jwtbearer.Options{})
			if err := v.VerifyAssertion(context.Background(), tc.token(), iss.Issuer(), subject, audience, iss.JWKSURL()); err != nil {
				t.Fatalf("VerifyAssertion: %v", err)
			}
		})
	}

	// Microsoft's example payload, verbatim, with its real Entra issuer: the
	// issuer is compared as configured, whatever host serves the JWKS.
	t.Run("Microsoft's example payload", func(t *testing.T) {
		const example = `{
  "aud": "api://b5ba7a93-4452-4522-aeb4-a2b5da870c16",
  "iss": "https://login.microsoftonline.com/ce5f061f-abe6-4e40-9615-301f87bcb7f0/v2.0",
  "iat": 1772175916,
  "nbf": 1772175916,
  "exp": 1772179816,
  "appid": "b5ba7a93-4452-4522-aeb4-a2b5da870c16",
  "appidacr": "2",
  "idp": "https://login.microsoftonline.com/ce5f061f-abe6-4e40-9615-301f87bcb7f0/v2.0",
  "oid": "d2f8ee76-c549-45b8-a143-f5b640669704",
  "sub": "<Sync Fabric Workload Identity 1P app object ID>",
  "tid": "ce5f061f-abe6-4e40-9615-301f87bcb7f0",
  "ver": "2.0"
}`
		issuer, _, err := jwtbearer.EntraDefaults("public", "ce5f061f-abe6-4e40-9615-301f87bcb7f0")
		if err != nil {
			t.Fatal(err)
		}
		v := newVerifier(clk, jwtbearer.Options{})
		token := iss.Sign(json.RawMessage(example))
		err = v.VerifyAssertion(context.Background(), token, issuer, "<Sync Fabric Workload Identity 1P app object ID>",
			"api://b5ba7a93-4452-4522-aeb4-a2b5da870c16", iss.JWKSURL())
		if err != nil {
			t.Fatalf("VerifyAssertion: %v", err)
		}
	})
}

// TestRefused shows each refused assertion, one subtest each, with the
// reason it is refused for.
func TestRefused(t *testing.T) {
	iss := fakeissuer.New(t)
	clk := newClock()
	attacker := newJWKSServer(t, jose.JSONWebKey{Key: rsaKey1(), KeyID: "attacker", Use: "sig"})
	issuerKID := kidOf(t, iss.Sign(claims(iss, clk)))
	ecKID := kidOf(t, iss.SignWith(jose.ES256, claims(iss, clk)))

	// The attacker's copy of the issuer's public key, as PEM, the HMAC
	// secret of the classic key-confusion attack.
	publicPEM := func() []byte {
		resp, err := http.Get(iss.JWKSURL())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set jose.JSONWebKeySet
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(set.Key(issuerKID)[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()

	at := func(d time.Duration) int64 { return clk.Now().Add(d).Unix() }
	tests := []struct {
		name    string
		token   func() string
		want    error
		message string // a part of the error's message
	}{
		{"wrong iss", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) { c["iss"] = iss.Issuer() + "/" }))
		}, jwtbearer.ErrIssuer, "want"},
		{"wrong sub", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) { c["sub"] = strings.ToUpper(subject) }))
		}, jwtbearer.ErrSubject, strings.ToUpper(subject)},
		{"no sub", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) { delete(c, "sub") }))
		}, jwtbearer.ErrSubject, ""},
		{"wrong aud", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) { c["aud"] = audience + "/.default" }))
		}, jwtbearer.ErrAudience, "/.default"},
		{"aud an array without the audience", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) { c["aud"] = []string{"api://a", "api://b"} }))
		}, jwtbearer.ErrAudience, "api://b"},
		{"expired", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) {
				c["iat"], c["nbf"], c["exp"] = at(-2*time.Hour), at(-2*time.Hour), at(-6*time.Minute)
			}))
		}, jwtbearer.ErrExpired, "exp"},
		{"no exp", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) { delete(c, "exp") }))
		}, jwtbearer.ErrMalformed, "no exp"},
		{"nbf in the future", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) { c["nbf"] = at(6 * time.Minute) }))
		}, jwtbearer.ErrNotYetValid, "nbf"},
		{"iat in the future", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) { c["iat"] = at(6 * time.Minute) }))
		}, jwtbearer.ErrNotYetValid, "iat"},
		{"lifetime too long", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) { c["exp"] = at(24*time.Hour + time.Second) }))
		}, jwtbearer.ErrLifetime, "after iat"},
		{"lifetime too long, without iat", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) { delete(c, "iat"); c["exp"] = at(25 * time.Hour) }))
		}, jwtbearer.ErrLifetime, "after nbf"},
		{"lifetime too long, without iat and nbf", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) { delete(c, "iat"); delete(c, "nbf"); c["exp"] = at(25 * time.Hour) }))
		}, jwtbearer.ErrLifetime, "after now"},
		{"exp not a number", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) { c["exp"] = "tomorrow" }))
		}, jwtbearer.ErrMalformed, "claims"},
		{"alg none", func() string {
			return unsigned(t, map[string]any{"alg": "none", "typ": "JWT", "kid": issuerKID}, claims(iss, clk), nil)
		}, jwtbearer.ErrAlgorithm, "none"},
		{"HS256 signed with the public key as the HMAC secret", func() string {
			return signRaw(t, jose.HS256, publicPEM, issuerKID, claims(iss, clk), nil, false)
		}, jwtbearer.ErrAlgorithm, "HS256"},
		{"RS384, not in the allow-list", func() string {
			return signRaw(t, jose.RS384, rsaKey1(), issuerKID, claims(iss, clk), nil, false)
		}, jwtbearer.ErrAlgorithm, "RS384"},
		{"ES256 header naming the RSA key", func() string {
			return signRaw(t, jose.ES256, ecKey1(), issuerKID, claims(iss, clk), nil, false)
		}, jwtbearer.ErrAlgorithm, "an RSA key cannot verify ES256"},
		{"PS256 header naming the EC key", func() string {
			return signRaw(t, jose.PS256, rsaKey1(), ecKID, claims(iss, clk), nil, false)
		}, jwtbearer.ErrAlgorithm, "an EC key cannot verify PS256"},
		{"unknown kid", func() string {
			return signRaw(t, jose.RS256, rsaKey1(), "not-in-the-jwks", claims(iss, clk), nil, false)
		}, jwtbearer.ErrUnknownKey, "not-in-the-jwks"},
		{"signed by another key under the issuer's kid", func() string {
			return signRaw(t, jose.RS256, rsaKey1(), issuerKID, claims(iss, clk), nil, false)
		}, jwtbearer.ErrSignature, issuerKID},
		{"claims changed after signing", func() string {
			parts := strings.Split(iss.Sign(claims(iss, clk)), ".")
			other, _ := json.Marshal(claims(iss, clk, func(c map[string]any) { c["sub"] = "someone else" }))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(other) + "." + parts[2]
		}, jwtbearer.ErrSignature, ""},
		{"jku header ignored: the key it points to is not trusted", func() string {
			return signRaw(t, jose.RS256, rsaKey1(), "attacker", claims(iss, clk),
				map[jose.HeaderKey]any{"jku": attacker.url("/keys"), "x5u": attacker.url("/cert")}, false)
		}, jwtbearer.ErrUnknownKey, "attacker"},
		{"jku header ignored under the issuer's kid", func() string {
			return signRaw(t, jose.RS256, rsaKey1(), issuerKID, claims(iss, clk),
				map[jose.HeaderKey]any{"jku": attacker.url("/keys")}, false)
		}, jwtbearer.ErrSignature, ""},
		{"jwk header ignored: the embedded key is not trusted", func() string {
			return signRaw(t, jose.RS256, rsaKey1(), issuerKID, claims(iss, clk), nil, true)
		}, jwtbearer.ErrSignature, ""},
		{"crit header", func() string {
			return signRaw(t, jose.RS256, rsaKey1(), issuerKID, claims(iss, clk),
				map[jose.HeaderKey]any{"crit": []string{"exp-ext"}, "exp-ext": 1}, false)
		}, jwtbearer.ErrMalformed, `"crit"`},
		{"too many header parameters", func() string {
			extra := map[jose.HeaderKey]any{}
			for _, k := range []jose.HeaderKey{"a", "b", "c", "d", "e", "f", "g", "h"} {
				extra[k] = "x"
			}
			return signRaw(t, jose.RS256, rsaKey1(), issuerKID, claims(iss, clk), extra, false)
		}, jwtbearer.ErrMalformed, "parameters"},
		{"no kid", func() string {
			return signRaw(t, jose.RS256, rsaKey1(), "", claims(iss, clk), nil, false)
		}, jwtbearer.ErrMalformed, "no kid"},
		{"oversized assertion", func() string {
			return iss.Sign(claims(iss, clk, func(c map[string]any) { c["pad"] = strings.Repeat("x", 16<<10) }))
		}, jwtbearer.ErrMalformed, "more than the 16384 allowed"},
		{"oversized garbage, refused before parsing", func() string {
			return strings.Repeat("%", 16<<10+1)
		}, jwtbearer.ErrMalformed, "more than the 16384 allowed"},
		{"not a JWT", func() string { return "not.a.jwt" }, jwtbearer.ErrMalformed, ""},
		{"a JWE", func() string { return "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d" }, jwtbearer.ErrMalformed, ""},
		{"empty", func() string { return "" }, jwtbearer.ErrMalformed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(clk, jwtbearer.Options{})
			err := v.VerifyAssertion(context.Background(), tc.token(), iss.Issuer(), subject, audience, iss.JWKSURL())
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyAssertion = %v, want %v", err, tc.want)
			}
			if !contains(err, tc.message) {
				t.Errorf("error %q does not say %q", err, tc.message)
			}
			t.Logf("refused: %v", err)
		})
	}
	if got := attacker.count("/keys") + attacker.count("/cert"); got != 0 {
		t.Errorf("the attacker's jku/x5u server was fetched %d times, want 0", got)
	}

	t.Run("federation not configured", func(t *testing.T) {
		v := newVerifier(clk, jwtbearer.Options{})
		token := iss.Sign(claims(iss, clk, func(c map[string]any) { delete(c, "sub") }))
		err := v.VerifyAssertion(context.Background(), token, iss.Issuer(), "", audience, iss.JWKSURL())
		if !errors.Is(err, jwtbearer.ErrConfig) {
			t.Fatalf("an empty configured subject: VerifyAssertion = %v, want ErrConfig", err)
		}
	})
}

// TestReplay shows the replay cache: an assertion with a jti is accepted
// once, one without is not single-use; the cache refuses rather than forgets
// when full.
func TestReplay(t *testing.T) {
	iss := fakeissuer.New(t)
	ctx := context.Background()
	verify := func(v *jwtbearer.Verifier, token string) error {
		return v.VerifyAssertion(ctx, token, iss.Issuer(), subject, audience, iss.JWKSURL())
	}

	t.Run("replayed jti", func(t *testing.T) {
		clk := newClock()
		v := newVerifier(clk, jwtbearer.Options{})
		c := claims(iss, clk)
		if err := verify(v, iss.Sign(c)); err != nil {
			t.Fatal(err)
		}
		// A new signature over other claims with the same jti is a replay too.
		c["iat"] = clk.Now().Add(time.Second).Unix()
		if err := verify(v, iss.SignWith(jose.PS256, c)); !errors.Is(err, jwtbearer.ErrReplayed) {
			t.Fatalf("the same jti again: VerifyAssertion = %v, want ErrReplayed", err)
		}
	})

	t.Run("the same jti from another issuer is another assertion", func(t *testing.T) {
		other := fakeissuer.New(t)
		clk := newClock()
		v := newVerifier(clk, jwtbearer.Options{})
		c := claims(iss, clk)
		if err := verify(v, iss.Sign(c)); err != nil {
			t.Fatal(err)
		}
		c["iss"] = other.Issuer()
		if err := v.VerifyAssertion(ctx, other.Sign(c), other.Issuer(), subject, audience, other.JWKSURL()); err != nil {
			t.Fatalf("another issuer's jti: %v", err)
		}
	})

	t.Run("an assertion without jti may be presented again", func(t *testing.T) {
		// Entra caches the assertion it presents (an access token of its
		// own) and may present it for several grants within its lifetime.
		clk := newClock()
		v := newVerifier(clk, jwtbearer.Options{MaxReplayEntries: 1})
		token := iss.Sign(iss.Claims(subject, audience, clk.Now()))
		for i := range 3 {
			if err := verify(v, token); err != nil {
				t.Fatalf("presentation %d: %v", i+1, err)
			}
			clk.Add(20 * time.Minute)
		}
		// It took no room in the replay cache: an assertion with a jti
		// still fits (the cache holds one).
		if err := verify(v, iss.Sign(claims(iss, clk))); err != nil {
			t.Fatalf("an assertion with a jti after three without: %v", err)
		}
	})

	t.Run("replay cache full refuses rather than forgets", func(t *testing.T) {
		clk := newClock()
		v := newVerifier(clk, jwtbearer.Options{MaxReplayEntries: 2})
		for i := range 2 {
			if err := verify(v, iss.Sign(claims(iss, clk))); err != nil {
				t.Fatalf("assertion %d: %v", i, err)
			}
		}
		first := iss.Sign(claims(iss, clk))
		if err := verify(v, first); !errors.Is(err, jwtbearer.ErrReplayCacheFull) {
			t.Fatalf("a third assertion: VerifyAssertion = %v, want ErrReplayCacheFull", err)
		}
		// Once the remembered assertions expired (exp + skew), there is room.
		clk.Add(fakeissuer.Lifetime + jwtbearer.MaxClockSkew)
		if err := verify(v, iss.Sign(claims(iss, clk))); err != nil {
			t.Fatalf("after the remembered assertions expired: %v", err)
		}
	})
}
