// Package tlsserve provides the agent's HTTPS certificates: obtained and
// renewed automatically from an ACME CA (github.com/caddyserver/certmagic;
// TLS-ALPN-01 and HTTP-01), or a certificate/key file pair that is reloaded
// on demand (SIGHUP) and when the files change, where a bad new pair keeps
// the old one. Every tls.Config it returns refuses TLS below 1.2, as Entra
// requires ("the only acceptable protocol version is TLS 1.2"); TLS 1.3
// stays on and Go's default cipher suites are used (see
// docs/entra.md#tls-requirements).
package tlsserve

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// MinVersion is the lowest TLS version any listener accepts.
const MinVersion = tls.VersionTLS12

// serverConfig returns the base server configuration: TLS 1.2 or later,
// HTTP/2 and HTTP/1.1, certificates from getCert.
func serverConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     MinVersion,
		GetCertificate: getCert,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// LoadRoots returns the system's root certificates plus those in the PEM
// file at path: the roots to trust when talking to a private ACME CA.
func LoadRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA roots: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA roots %s: no PEM certificate found; want a file with -----BEGIN CERTIFICATE-----", path)
	}
	return pool, nil
}

// checkCert checks a certificate against what Entra accepts: currently
// valid, RSA keys of at least 2048 bits, ECDSA keys of at least 256 bits.
// It returns a warning (not an error) when the certificate expires within
// 30 days.
func checkCert(leaf *x509.Certificate, now time.Time) (warning string, err error) {
	if now.After(leaf.NotAfter) {
		return "", fmt.Errorf("certificate expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return "", fmt.Errorf("certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	switch k := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("RSA key has %d bits; Entra requires at least 2048", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			return "", fmt.Errorf("ECDSA key has %d bits; Entra requires at least 256", k.Curve.Params().BitSize)
		}
	case ed25519.PublicKey:
		return "", errors.New("Ed25519 keys are not accepted by Entra; use ECDSA P-256 or RSA 2048")
	}
	if left := leaf.NotAfter.Sub(now); left < 30*24*time.Hour {
		return fmt.Sprintf("expires in %d days, on %s", int(left.Hours()/24), leaf.NotAfter.UTC().Format(time.RFC3339)), nil
	}
	return "", nil
}
