package setup

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/graph/mappings"
)

// writePEM writes PEM blocks of type typ to a file in dir.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writePair writes httptest's certificate and its key as PEM files.
func writePair(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.StartTLS()
	srv.Close()
	pair := srv.TLS.Certificates[0]
	kder, err := x509.MarshalPKCS8PrivateKey(pair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, "cert.pem", "CERTIFICATE", pair.Certificate[0]), writePEM(t, dir, "key.pem", "PRIVATE KEY", kder)
}

// TestAgentConfig: each route maps to its TLS mode and default listen
// address, a rewrite keeps what the owner edited in the file, an invalid
// answer is an AdviceError naming the file, and Check refuses a certificate
// with another certificate's key.
func TestAgentConfig(t *testing.T) {
	dataDir := t.TempDir()
	a := Agent{DataDir: dataDir}
	if a.ConfigFile() != filepath.Join(dataDir, "roster.conf") {
		t.Errorf("ConfigFile = %s", a.ConfigFile())
	}
	cert, key := writePair(t, dataDir)
	for _, tc := range []struct {
		r            AgentReach
		mode, listen string
	}{
		{AgentReach{TLSMode: config.TLSModeACME, PublicURL: "https://scim.example.com/", ACMEEmail: "it@example.com"}, config.TLSModeACME, ":443"},
		{AgentReach{TLSMode: config.TLSModeFiles, PublicURL: "https://scim.example.com", CertFile: cert, KeyFile: key, Listen: ":8443"}, config.TLSModeFiles, ":8443"},
		{AgentReach{TLSMode: config.TLSModeOff, PublicURL: "https://scim.example.com", Listen: "127.0.0.1:8081"}, config.TLSModeOff, "127.0.0.1:8081"},
		{AgentReach{TLSMode: config.TLSModeOff, PublicURL: "http://127.0.0.1:8080"}, config.TLSModeOff, config.Default().Listen},
	} {
		cfg, err := a.Config(tc.r)
		if err != nil {
			t.Errorf("Config(%+v) = %v", tc.r, err)
			continue
		}
		if cfg.TLS.Mode != tc.mode || cfg.Listen != tc.listen || cfg.DataDir != dataDir || strings.HasSuffix(cfg.PublicURL, "/") {
			t.Errorf("Config(%+v): mode %q listen %q data dir %q public URL %q, want %q %q", tc.r, cfg.TLS.Mode, cfg.Listen, cfg.DataDir, cfg.PublicURL, tc.mode, tc.listen)
		}
		if err := a.Check(tc.r, false); err != nil {
			t.Errorf("Check(%+v) = %v", tc.r, err)
		}
	}

	// An owner's edit survives a rewrite.
	r := AgentReach{TLSMode: config.TLSModeOff, PublicURL: "https://scim.example.com", Listen: "127.0.0.1:8081"}
	cfg, err := a.WriteConfig(r)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Log.Level = "debug"
	if err := cfg.Write(a.ConfigFile()); err != nil {
		t.Fatal(err)
	}
	if cfg, err = a.WriteConfig(r); err != nil || cfg.Log.Level != "debug" {
		t.Errorf("WriteConfig over an edited file: log level %q, %v; want debug kept", cfg.Log.Level, err)
	}
	if got, err := config.Load(a.ConfigFile()); err != nil || got.Listen != "127.0.0.1:8081" {
		t.Errorf("written config: %+v, %v", got, err)
	}

	var adv *AdviceError
	if _, err := a.Config(AgentReach{TLSMode: config.TLSModeFiles, PublicURL: "https://scim.example.com"}); !errors.As(err, &adv) || !strings.Contains(adv.Hint, a.ConfigFile()) {
		t.Errorf("Config without certificate files = %v, want an AdviceError naming %s", err, a.ConfigFile())
	}
	noKey := AgentReach{TLSMode: config.TLSModeFiles, PublicURL: "https://scim.example.com", CertFile: cert, KeyFile: cert}
	if err := a.Check(noKey, false); !errors.As(err, &adv) || !strings.Contains(err.Error(), "cannot be used together") {
		t.Errorf("Check with a certificate for a key = %v, want an AdviceError", err)
	}
}

// TestOverview: tenants, active tokens, domains, the connected app and an
// agent answering /healthz at the recorded public URL.
func TestOverview(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o, err := e.svc.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Tenants, []string{directory.DefaultTenant}) || o.Tokens != 0 || o.AppConnected || o.AgentRunning {
		t.Errorf("Overview of a new tenant = %+v", o)
	}
	if _, err := e.svc.IssueToken(ctx, "tokyo"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddDomain(ctx, "tokyo", "contoso.com"); err != nil {
		t.Fatal(err)
	}
	e.connect(t, ConnectRequest{Tenant: directory.DefaultTenant, NewToken: true})
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(healthy.Close)
	if err := e.svc.SetPublicURL(ctx, healthy.URL, lab); err != nil {
		t.Fatal(err)
	}
	o, err = e.svc.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Tenants) != 2 || o.Tokens != 2 || len(o.Domains) != 1 || o.Domains[0].Domain != "contoso.com" ||
		!o.AppConnected || o.AppName == "" || !o.AgentRunning {
		t.Errorf("Overview = %+v", o)
	}
}

// TestWaitFirstRequest: it returns when the issued token is first used,
// refuses without a token, and ends with its context.
func TestWaitFirstRequest(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.svc.WaitFirstRequest(ctx, "", ""); err == nil {
		t.Error("WaitFirstRequest without a token = nil, want an error")
	}
	is, err := e.svc.IssueToken(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.svc.WaitFirstRequest(cctx, "", is.TokenID); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitFirstRequest with a cancelled context = %v", err)
	}
	type result struct {
		at  time.Time
		err error
	}
	got := make(chan result, 1)
	go func() {
		at, err := e.svc.WaitFirstRequest(ctx, "", is.TokenID)
		got <- result{at, err}
	}()
	if _, err := e.dir.Authenticate(ctx, directory.DefaultTenant, is.Token.Reveal()); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil || r.at.IsZero() {
		t.Errorf("WaitFirstRequest = %v, %v; want the time of first use", r.at, r.err)
	}
}

// TestWizardSettings: the options not chosen are omitted, except
// employeeId when users are matched on it; the rest of the last
// connection's settings are kept.
func TestWizardSettings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	set := e.svc.WizardSettings(ctx, "", WizardChoices{Mappings: []string{"givenName"}, MatchOnEmployeeID: true, ScopeAllUsers: true, NotificationEmail: "it@example.com"})
	var optional []string
	for _, m := range mappings.Table(mappings.Options{}) {
		if !m.Required {
			optional = append(optional, m.Source)
		}
	}
	for _, src := range optional {
		omitted := slices.Contains(set.Omit, src)
		if want := src != "givenName" && src != mappings.EmployeeID; omitted != want {
			t.Errorf("%s omitted = %v, want %v (Omit %v)", src, omitted, want, set.Omit)
		}
	}
	if !set.MatchOnEmployeeID || set.ProvisionGroups || !set.SyncAll || set.NotificationEmail != "it@example.com" || set.DeleteThreshold != DefaultDeleteThreshold {
		t.Errorf("WizardSettings = %+v", set)
	}
	prev := DefaultSettings()
	prev.DeleteThreshold = 7
	e.connect(t, ConnectRequest{NewToken: true, Settings: prev})
	if set := e.svc.WizardSettings(ctx, "", WizardChoices{}); set.DeleteThreshold != 7 {
		t.Errorf("WizardSettings after a connection with threshold 7: %d", set.DeleteThreshold)
	}
}
