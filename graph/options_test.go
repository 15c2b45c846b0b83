package graph

import (
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestOptionsConfig: the environment's secrets, a saved connection's
// choices where the options leave them empty, the default method, the
// sign-in record, and the CA file.
func TestOptionsConfig(t *testing.T) {
	t.Setenv("ROSTER_GRAPH_TOKEN", "")
	t.Setenv("ROSTER_GRAPH_CLIENT_SECRET", "from-env")
	t.Setenv("ROSTER_GRAPH_CERT_PASSWORD", "pw")
	cfg, err := Options{}.Config()
	if err != nil || cfg.Auth != AuthDeviceCode || cfg.ClientSecret != "from-env" || cfg.CertificatePassword != "pw" || cfg.SignInRecord != "" || cfg.Transport != nil {
		t.Errorf("Options{}.Config() = %+v, %v", cfg, err)
	}
	saved := &Saved{Auth: string(AuthClientSecret), TenantID: "contoso.onmicrosoft.com", ClientID: "c1", Cloud: string(CloudUSGov)}
	dataDir := t.TempDir()
	cfg, err = Options{ClientID: "c2", ClientSecret: "given", DataDir: dataDir, Saved: saved}.Config()
	if err != nil || cfg.Auth != AuthClientSecret || cfg.TenantID != "contoso.onmicrosoft.com" || cfg.ClientID != "c2" || cfg.Cloud != CloudUSGov ||
		cfg.ClientSecret != "given" || cfg.SignInRecord != filepath.Join(dataDir, "graph-signin.json") {
		t.Errorf("Config over a saved sign-in = %+v, %v", cfg, err)
	}
	if got := cfg.Saved(); got != (Saved{Auth: string(AuthClientSecret), TenantID: "contoso.onmicrosoft.com", ClientID: "c2", Cloud: string(CloudUSGov)}) {
		t.Errorf("Saved() = %+v", got)
	}

	// A token in the environment wins over the saved method.
	t.Setenv("ROSTER_GRAPH_TOKEN", "ey.token")
	if cfg, err := (Options{Saved: saved}).Config(); err != nil || cfg.Auth != AuthToken || cfg.Token != "ey.token" {
		t.Errorf("Config with ROSTER_GRAPH_TOKEN = %+v, %v", cfg, err)
	}

	notPEM := filepath.Join(dataDir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (Options{CAFile: notPEM}).Config(); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("Config with a CA file without PEM = %v, want ErrNoCertificate", err)
	}
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	ca := filepath.Join(dataDir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = Options{CAFile: ca}.Config()
	if err != nil || cfg.Transport == nil {
		t.Fatalf("Config with a CA file = %+v, %v", cfg, err)
	}
	resp, err := (&http.Client{Transport: cfg.Transport}).Get(srv.URL)
	if err != nil {
		t.Fatalf("GET through the CA file's transport: %v", err)
	}
	resp.Body.Close()
	if _, err := (Options{CAFile: filepath.Join(dataDir, "missing.pem")}).Config(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Config with a missing CA file = %v, want not exist", err)
	}
}
