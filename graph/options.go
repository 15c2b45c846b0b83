package graph

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
)

// SignInRecordFile is where a device code sign-in is remembered for the
// data directory dataDir (no secret; see Config.SignInRecord).
func SignInRecordFile(dataDir string) string { return filepath.Join(dataDir, "graph-signin.json") }

// Saved is how an earlier connection signed in: what Options falls back to.
type Saved struct {
	Auth, TenantID, ClientID, Cloud string
}

// Options are the sign-in choices of a command or the setup wizard, before
// defaults. Config turns them into a Config.
type Options struct {
	Auth, TenantID, ClientID, CertificateFile, Cloud, BaseURL, LoginURL string
	// ClientSecret is for AuthClientSecret; "" reads ROSTER_GRAPH_CLIENT_SECRET.
	ClientSecret string
	// CAFile names extra CA certificates (PEM) to trust for Graph and
	// sign-in, e.g. a TLS-inspecting proxy's.
	CAFile string
	// DataDir, when set, remembers a device code sign-in in
	// SignInRecordFile(DataDir).
	DataDir string
	// Saved, when set, fills in the sign-in method, tenant, client and cloud
	// that the options leave empty.
	Saved *Saved
}

// ErrNoCertificate is returned by Options.Config for a CA file without a
// PEM certificate.
var ErrNoCertificate = errors.New("no PEM certificate in it")

// Config resolves the options into a Config: the secrets from the
// environment (ROSTER_GRAPH_CLIENT_SECRET, ROSTER_GRAPH_CERT_PASSWORD,
// ROSTER_GRAPH_TOKEN), empty choices from Saved, then the defaults (a token
// in ROSTER_GRAPH_TOKEN, else device code), and a transport that trusts
// CAFile. It does not validate the result (see Config.Validate).
func (o Options) Config() (Config, error) {
	cfg := Config{
		Auth: Auth(o.Auth), TenantID: o.TenantID, ClientID: o.ClientID, CertificateFile: o.CertificateFile,
		Cloud: Cloud(o.Cloud), BaseURL: o.BaseURL, LoginURL: o.LoginURL,
		ClientSecret:        o.ClientSecret,
		CertificatePassword: os.Getenv("ROSTER_GRAPH_CERT_PASSWORD"),
		Token:               os.Getenv("ROSTER_GRAPH_TOKEN"),
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = os.Getenv("ROSTER_GRAPH_CLIENT_SECRET")
	}
	if o.DataDir != "" {
		cfg.SignInRecord = SignInRecordFile(o.DataDir)
	}
	if st := o.Saved; st != nil {
		if cfg.Auth == "" && cfg.Token == "" {
			cfg.Auth = Auth(st.Auth)
		}
		if cfg.TenantID == "" {
			cfg.TenantID = st.TenantID
		}
		if cfg.ClientID == "" {
			cfg.ClientID = st.ClientID
		}
		if cfg.Cloud == "" {
			cfg.Cloud = Cloud(st.Cloud)
		}
	}
	if cfg.Auth == "" {
		cfg.Auth = AuthDeviceCode
		if cfg.Token != "" {
			cfg.Auth = AuthToken
		}
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return cfg, err // *fs.PathError names the file
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return cfg, fmt.Errorf("%s: %w", o.CAFile, ErrNoCertificate)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		cfg.Transport = tr
	}
	return cfg, nil
}

// Saved returns what a connection remembers of how cfg signed in.
func (c Config) Saved() Saved {
	return Saved{Auth: string(c.Auth), TenantID: c.TenantID, ClientID: c.ClientID, Cloud: string(c.Cloud)}
}
