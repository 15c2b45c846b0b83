// Package fakeissuer is a fake Microsoft Entra token issuer for tests: an
// httptest server on 127.0.0.1 that serves a tenant's OpenID configuration
// and JWKS the way login.microsoftonline.com does, and signs assertions for
// Workload Identity Federation (RFC 7523 client assertions) with its keys.
//
// It holds one RSA key (2048 bits, for RS256 and PS256, the kind Entra uses)
// and one EC P-256 key (for ES256). Like Entra's, the RSA key is served with
// a self-signed certificate (x5c), its SHA-1 thumbprint (x5t) is also its
// kid, and every key carries Entra's extra members issuer and
// cloud_instance_name. Its JWKS is served over plain http, so a
// jwtbearer.Verifier needs Options.AllowHTTPLoopback to fetch it.
//
//	iss := fakeissuer.New(t)
//	assertion := iss.Sign(iss.Claims("sync-fabric-object-id", "api://app-id", time.Now()))
//	err := verifier.VerifyAssertion(ctx, assertion, iss.Issuer(), "sync-fabric-object-id", "api://app-id", iss.JWKSURL())
package fakeissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
)

// Lifetime is how long the assertions that Claims describes live: Entra's
// example assertion (iat 1772175916, exp 1772179816) lives 65 minutes.
const Lifetime = 65 * time.Minute

// Issuer is a running fake Entra tenant. Its methods are safe for concurrent
// use.
type Issuer struct {
	ts      *httptest.Server
	tenant  string
	fetches atomic.Int64

	mu      sync.Mutex
	rsaKey  *rsa.PrivateKey
	rsaKID  string
	rsaCert *x509.Certificate
	ecKey   *ecdsa.PrivateKey
	ecKID   string
}

// New starts a fake issuer for a new random tenant ID on 127.0.0.1 and
// closes it when t's test ends.
func New(t testing.TB) *Issuer {
	t.Helper()
	i := &Issuer{tenant: uuid.NewString()}
	i.Rotate()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", i.serveKeys)
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", i.serveConfig)
	i.ts = httptest.NewServer(mux)
	t.Cleanup(i.ts.Close)
	return i
}

// TenantID returns the tenant's ID (a GUID), which Entra writes in the
// issuer and the tid claim.
func (i *Issuer) TenantID() string { return i.tenant }

// Issuer returns the issuer (iss) of the tenant's assertions,
// http://127.0.0.1:port/<tenant ID>/v2.0 — the shape of Entra's
// https://login.microsoftonline.com/<tenant ID>/v2.0.
func (i *Issuer) Issuer() string { return i.ts.URL + "/" + i.tenant + "/v2.0" }

// JWKSURL returns the URL of the tenant's JWKS,
// http://127.0.0.1:port/<tenant ID>/discovery/v2.0/keys.
func (i *Issuer) JWKSURL() string { return i.ts.URL + "/" + i.tenant + "/discovery/v2.0/keys" }

// JWKSFetches returns how many times the JWKS was fetched.
func (i *Issuer) JWKSFetches() int { return int(i.fetches.Load()) }

// Rotate replaces both keys with new ones under new key IDs; from then on
// the JWKS serves only the new keys and Sign signs with them.
func (i *Issuer) Rotate() {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("fakeissuer: generate RSA key: %v", err))
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(fmt.Sprintf("fakeissuer: generate EC key: %v", err))
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, rk.Public(), rk)
	if err != nil {
		panic(fmt.Sprintf("fakeissuer: certificate: %v", err))
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(fmt.Sprintf("fakeissuer: certificate: %v", err))
	}
	thumb := sha1.Sum(der)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rsaKey, i.rsaKID, i.rsaCert = rk, base64.RawURLEncoding.EncodeToString(thumb[:]), cert
	i.ecKey, i.ecKID = ek, "ec-"+uuid.NewString()
}

// Claims returns the claims of an assertion like the one Entra signs for
// Workload Identity Federation, issued at now for subject and audience: iss,
// sub, aud, iat, nbf, exp (now + Lifetime), and Entra's appid, appidacr,
// idp, oid, tid and ver. Like Entra's, it has no jti. Callers may change
// the map before signing it.
func (i *Issuer) Claims(subject, audience string, now time.Time) map[string]any {
	appID := uuid.NewSHA1(uuid.NameSpaceURL, []byte(audience)).String()
	return map[string]any{
		"aud":      audience,
		"iss":      i.Issuer(),
		"iat":      now.Unix(),
		"nbf":      now.Unix(),
		"exp":      now.Add(Lifetime).Unix(),
		"appid":    appID,
		"appidacr": "2",
		"idp":      i.Issuer(),
		"oid":      uuid.NewSHA1(uuid.NameSpaceOID, []byte(appID)).String(),
		"sub":      subject,
		"tid":      i.tenant,
		"ver":      "2.0",
	}
}

// Sign returns claims signed with RS256 by the current RSA key, with the
// header Entra uses (typ JWT, alg, x5t, kid). claims is marshalled with
// encoding/json; Sign panics if that fails.
func (i *Issuer) Sign(claims any) string { return i.SignWith(jose.RS256, claims) }

// SignWith is Sign with the algorithm alg: RS256 or PS256 (the RSA key) or
// ES256 (the EC key). It panics for any other alg.
func (i *Issuer) SignWith(alg jose.SignatureAlgorithm, claims any) string {
	i.mu.Lock()
	var key crypto.Signer
	var kid string
	switch alg {
	case jose.RS256, jose.PS256:
		key, kid = i.rsaKey, i.rsaKID
	case jose.ES256:
		key, kid = i.ecKey, i.ecKID
	default:
		i.mu.Unlock()
		panic(fmt.Sprintf("fakeissuer: alg %s is not supported", alg))
	}
	i.mu.Unlock()
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(fmt.Sprintf("fakeissuer: marshal claims: %v", err))
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if alg != jose.ES256 {
		opts = opts.WithHeader("x5t", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, opts)
	if err != nil {
		panic(fmt.Sprintf("fakeissuer: signer: %v", err))
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		panic(fmt.Sprintf("fakeissuer: sign: %v", err))
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		panic(fmt.Sprintf("fakeissuer: serialize: %v", err))
	}
	return s
}

// serveKeys serves the JWKS as Entra does: the public keys with use "sig",
// no alg, and the members issuer and cloud_instance_name; and Entra's
// Cache-Control.
func (i *Issuer) serveKeys(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("tenant") != i.tenant {
		http.NotFound(w, r)
		return
	}
	i.fetches.Add(1)
	i.mu.Lock()
	thumb := sha1.Sum(i.rsaCert.Raw)
	jwks := []jose.JSONWebKey{
		{Key: i.rsaKey.Public(), KeyID: i.rsaKID, Use: "sig", Certificates: []*x509.Certificate{i.rsaCert}, CertificateThumbprintSHA1: thumb[:]},
		{Key: i.ecKey.Public(), KeyID: i.ecKID, Use: "sig"},
	}
	i.mu.Unlock()
	keys := make([]map[string]any, len(jwks))
	for n, k := range jwks {
		b, err := k.MarshalJSON()
		if err == nil {
			err = json.Unmarshal(b, &keys[n])
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		keys[n]["issuer"] = i.Issuer()
		keys[n]["cloud_instance_name"] = "microsoftonline.com"
	}
	w.Header().Set("Cache-Control", "max-age=86400, private")
	writeJSON(w, map[string]any{"keys": keys})
}

// serveConfig serves the tenant's OpenID Provider Metadata (OpenID Connect
// Discovery 1.0 §3), the members Entra serves that matter here.
func (i *Issuer) serveConfig(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("tenant") != i.tenant {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, map[string]any{
		"issuer":                                i.Issuer(),
		"jwks_uri":                              i.JWKSURL(),
		"token_endpoint":                        i.ts.URL + "/" + i.tenant + "/oauth2/v2.0/token",
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(b)
}
