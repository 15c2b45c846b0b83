// Package pebbletest runs Let's Encrypt's Pebble test ACME CA in-process on
// 127.0.0.1 for tests: its own configuration, challenge ports chosen by the
// test, and a DNS server given by the test (never the system resolver), so
// no traffic leaves the machine.
package pebbletest

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/rosterhq/roster/internal/syncbuf"
)

// Options says where Pebble's validation authority connects.
type Options struct {
	// HTTPPort is the port http-01 challenges are fetched from.
	HTTPPort int
	// TLSPort is the port tls-alpn-01 challenges are answered on.
	TLSPort int
	// DNSServer (host:port, queried over TCP) resolves the names being
	// validated. Required: without it Pebble would use the system resolver.
	DNSServer string
}

// FreePort returns a port on 127.0.0.1 that was free a moment ago, for the
// challenge ports of Options (the agent under test listens on them).
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Server is a running Pebble.
type Server struct {
	// DirectoryURL is the ACME directory, https://127.0.0.1:PORT/dir.
	DirectoryURL string
	// APIRootFile is a PEM file of the root that the directory's own TLS
	// certificate chains to: the ca_root a client must trust.
	APIRootFile string

	ca *ca.CAImpl
}

// Start starts Pebble. It sets PEBBLE_VA_NOSLEEP=1, PEBBLE_VA_ALWAYS_VALID=0
// and PEBBLE_WFE_NONCEREJECT=0 for the test (so it cannot run in parallel).
// Pebble's log is printed if the test fails.
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	if opt.DNSServer == "" {
		t.Fatal("pebbletest: Options.DNSServer is required")
	}
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_VA_ALWAYS_VALID", "0")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	buf := &syncbuf.Buffer{}
	logger := log.New(buf, "pebble ", log.Lmicroseconds)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Pebble's log:\n%s", buf.String())
		}
	})
	store := db.NewMemoryStore()
	profiles := map[string]ca.Profile{"default": {Description: "90 days", ValidityPeriod: 90 * 24 * 3600}}
	c := ca.New(logger, store, "", "ecdsa", 0, 1, profiles)
	v := va.New(logger, opt.HTTPPort, opt.TLSPort, false, opt.DNSServer, store)
	w := wfe.New(logger, store, v, c, []string{"pebble.letsencrypt.org"}, false, false, 1, 1)
	srv := httptest.NewUnstartedServer(w.Handler())
	srv.StartTLS()
	t.Cleanup(srv.Close)
	rootFile := filepath.Join(t.TempDir(), "pebble-api-root.pem")
	var pemBuf bytes.Buffer
	pem.Encode(&pemBuf, &pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}) //nolint:errcheck
	if err := os.WriteFile(rootFile, pemBuf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return &Server{DirectoryURL: srv.URL + "/dir", APIRootFile: rootFile, ca: c}
}

// IssuerRoots returns the root that certificates issued by this Pebble
// chain to, for verifying them.
func (s *Server) IssuerRoots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.ca.GetRootCert(0).PEM())
	return pool
}
