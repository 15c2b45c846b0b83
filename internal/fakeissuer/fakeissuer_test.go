package fakeissuer_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rosterhq/roster/internal/fakeissuer"
)

// getJSON fetches url and decodes its JSON body into v, returning the response.
func getJSON(t *testing.T, url string, v any) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("decode %s: %v", url, err)
		}
	}
	return resp
}

// verify checks that token verifies with a key of set and returns its kid.
func verify(t *testing.T, set jose.JSONWebKeySet, token string, alg jose.SignatureAlgorithm) (kid string, claims map[string]any) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("parse %s token: %v", alg, err)
	}
	kid = jws.Signatures[0].Protected.KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("%s token's kid %q: %d keys in the JWKS, want 1", alg, kid, len(keys))
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("verify %s token: %v", alg, err)
	}
	if typ := jws.Signatures[0].Protected.ExtraHeaders["typ"]; typ != "JWT" {
		t.Errorf("typ = %v, want JWT", typ)
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return kid, claims
}

// TestIssuer checks the served documents, that Sign and SignWith produce
// tokens the served JWKS verifies, that Rotate replaces the keys, and the
// fetch counter.
func TestIssuer(t *testing.T) {
	iss := fakeissuer.New(t)
	if !strings.HasPrefix(iss.Issuer(), "http://127.0.0.1:") || !strings.HasSuffix(iss.Issuer(), "/"+iss.TenantID()+"/v2.0") {
		t.Errorf("Issuer() = %q", iss.Issuer())
	}
	var conf map[string]any
	getJSON(t, strings.TrimSuffix(iss.Issuer(), "/v2.0")+"/v2.0/.well-known/openid-configuration", &conf)
	if conf["issuer"] != iss.Issuer() || conf["jwks_uri"] != iss.JWKSURL() {
		t.Errorf("openid-configuration = %v, want issuer %s and jwks_uri %s", conf, iss.Issuer(), iss.JWKSURL())
	}
	if got := iss.JWKSFetches(); got != 0 {
		t.Errorf("JWKSFetches() = %d before any fetch", got)
	}

	var set jose.JSONWebKeySet
	resp := getJSON(t, iss.JWKSURL(), &set)
	if got, want := resp.Header.Get("Cache-Control"), "max-age=86400, private"; got != want {
		t.Errorf("Cache-Control = %q, want %q", got, want)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS has %d keys, want 2", len(set.Keys))
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || k.Use != "sig" || k.KeyID == "" || k.Algorithm != "" {
			t.Errorf("key %q: public %v, use %q, alg %q; want a public key with use sig and no alg", k.KeyID, k.IsPublic(), k.Use, k.Algorithm)
		}
	}
	if k := set.Keys[0]; len(k.Certificates) != 1 || base64.RawURLEncoding.EncodeToString(k.CertificateThumbprintSHA1) != k.KeyID {
		t.Errorf("RSA key %q: %d certificates, x5t %x; want one certificate whose thumbprint is the kid", k.KeyID, len(k.Certificates), k.CertificateThumbprintSHA1)
	}
	var raw struct{ Keys []map[string]any }
	getJSON(t, iss.JWKSURL(), &raw)
	for _, k := range raw.Keys {
		if k["issuer"] != iss.Issuer() || k["cloud_instance_name"] != "microsoftonline.com" {
			t.Errorf("key %v lacks Entra's issuer and cloud_instance_name", k["kid"])
		}
	}

	now := time.Unix(1772175916, 0)
	claims := iss.Claims("sub-1", "api://aud-1", now)
	kids := map[jose.SignatureAlgorithm]string{}
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256} {
		var got map[string]any
		kids[alg], got = verify(t, set, iss.SignWith(alg, claims), alg)
		if got["iss"] != iss.Issuer() || got["sub"] != "sub-1" || got["aud"] != "api://aud-1" || got["tid"] != iss.TenantID() {
			t.Errorf("%s claims = %v", alg, got)
		}
		if got["exp"].(float64)-got["iat"].(float64) != fakeissuer.Lifetime.Seconds() {
			t.Errorf("%s: exp - iat = %v, want %v", alg, got["exp"].(float64)-got["iat"].(float64), fakeissuer.Lifetime.Seconds())
		}
		if _, ok := got["jti"]; ok {
			t.Errorf("%s: Entra-like claims have a jti", alg)
		}
	}
	if kid, _ := verify(t, set, iss.Sign(claims), jose.RS256); kid != kids[jose.RS256] || kids[jose.RS256] == kids[jose.ES256] {
		t.Errorf("Sign used kid %q; RS256 kid %q, ES256 kid %q", kid, kids[jose.RS256], kids[jose.ES256])
	}

	iss.Rotate()
	var rotated jose.JSONWebKeySet
	getJSON(t, iss.JWKSURL(), &rotated)
	for _, k := range rotated.Keys {
		if k.KeyID == kids[jose.RS256] || k.KeyID == kids[jose.ES256] {
			t.Errorf("after Rotate the JWKS still serves key %q", k.KeyID)
		}
	}
	if kid, _ := verify(t, rotated, iss.Sign(claims), jose.RS256); kid == kids[jose.RS256] {
		t.Errorf("after Rotate Sign still uses key %q", kid)
	}
	if got := iss.JWKSFetches(); got != 3 {
		t.Errorf("JWKSFetches() = %d, want 3", got)
	}

	other := strings.Replace(iss.JWKSURL(), iss.TenantID(), "00000000-0000-0000-0000-000000000000", 1)
	if resp := getJSON(t, other, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant's JWKS: status %d, want 404", resp.StatusCode)
	}
	if got := iss.JWKSFetches(); got != 3 {
		t.Errorf("JWKSFetches() = %d after another tenant's, want 3", got)
	}
}
