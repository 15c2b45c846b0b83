// Go servers refuse TLS 1.0/1.1 by default; re-enable them for the test
// binary so that the tests prove tlsserve's own MinVersion refuses them.
//
//go:debug tls10server=1

package tlsserve_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/domainproof/dnstest"
	"github.com/rosterhq/roster/agent/tlsserve"
	"github.com/rosterhq/roster/agent/tlsserve/dbstorage"
	"github.com/rosterhq/roster/agent/tlsserve/pebbletest"
	"github.com/rosterhq/roster/internal/syncbuf"
)

func newLog(t *testing.T) (*slog.Logger, *syncbuf.Buffer) {
	buf := &syncbuf.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// serve runs an HTTPS server with cfg on a new 127.0.0.1 listener (or ln)
// that answers "hello".
func serve(t *testing.T, ln net.Listener, cfg *tls.Config) string {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") }), //nolint:errcheck
		TLSConfig: cfg,
		ErrorLog:  nil,
	}
	go srv.ServeTLS(ln, "", "") //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// handshake connects with TLS versions [minV, maxV] and returns the
// server's leaf and the negotiated version.
func handshake(addr, name string, roots *x509.CertPool, minV, maxV uint16) (*x509.Certificate, uint16, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{
		ServerName: name, RootCAs: roots, MinVersion: minV, MaxVersion: maxV,
	})
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close()
	st := conn.ConnectionState()
	return st.PeerCertificates[0], st.Version, nil
}

// checkVersions asserts that TLS 1.0 and 1.1 are refused while 1.2 and 1.3 work.
func checkVersions(t *testing.T, addr, name string, roots *x509.CertPool) {
	t.Helper()
	for _, v := range []struct {
		name   string
		ver    uint16
		accept bool
	}{
		{"TLS 1.0", tls.VersionTLS10, false},
		{"TLS 1.1", tls.VersionTLS11, false},
		{"TLS 1.2", tls.VersionTLS12, true},
		{"TLS 1.3", tls.VersionTLS13, true},
	} {
		_, got, err := handshake(addr, name, roots, v.ver, v.ver)
		switch {
		case v.accept && err != nil:
			t.Errorf("%s handshake failed: %v", v.name, err)
		case v.accept && got != v.ver:
			t.Errorf("%s: negotiated %x", v.name, got)
		case !v.accept && err == nil:
			t.Errorf("%s handshake succeeded, want it refused", v.name)
		case !v.accept && !strings.Contains(err.Error(), "protocol version"):
			t.Errorf("%s refused with %v, want a protocol version alert", v.name, err)
		}
	}
}

// keyPair writes a self-signed certificate for names and its key as PEM
// files in dir and returns their paths and the serial.
type certSpec struct {
	names     []string
	notBefore time.Time
	notAfter  time.Time
	rsaBits   int // 0: ECDSA P-256
}

func writePair(t *testing.T, dir, prefix string, s certSpec) (certFile, keyFile string, serial *big.Int) {
	t.Helper()
	var key any
	var pub any
	if s.rsaBits > 0 {
		k, err := rsa.GenerateKey(rand.Reader, s.rsaBits)
		if err != nil {
			t.Fatal(err)
		}
		key, pub = k, &k.PublicKey
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key, pub = k, &k.PublicKey
	}
	serial, _ = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if s.notBefore.IsZero() {
		s.notBefore = time.Now().Add(-time.Hour)
	}
	if s.notAfter.IsZero() {
		s.notAfter = time.Now().Add(90 * 24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: s.names[0]},
		DNSNames:              s.names,
		NotBefore:             s.notBefore,
		NotAfter:              s.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, prefix+"cert.pem")
	keyFile = filepath.Join(dir, prefix+"key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, serial
}

// replace moves src over dst atomically, as a certificate deployment should.
func replace(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.Rename(src, dst); err != nil {
		t.Fatal(err)
	}
}

func TestFilePairReload(t *testing.T) {
	dir := t.TempDir()
	log, logs := newLog(t)
	certFile, keyFile, serialA := writePair(t, dir, "", certSpec{names: []string{"roster.test"}})
	fp, err := tlsserve.NewFilePair(certFile, keyFile, []string{"roster.test"}, log)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, nil, fp.TLSConfig())
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(must(os.ReadFile(certFile)))
	served := func() *big.Int {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // the test compares serials
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber
	}
	if got := served(); got.Cmp(serialA) != 0 {
		t.Fatalf("serving serial %x, want %x", got, serialA)
	}
	checkVersions(t, addr, "roster.test", roots)

	// A good new pair is served after Reload.
	c2, k2, serialB := writePair(t, dir, "b-", certSpec{names: []string{"roster.test"}})
	replace(t, c2, certFile)
	replace(t, k2, keyFile)
	if err := fp.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(); got.Cmp(serialB) != 0 {
		t.Fatalf("after reload serving %x, want %x", got, serialB)
	}

	// Bad pairs are refused and the old certificate stays.
	bad := []struct {
		name string
		make func() // leaves a bad pair at certFile/keyFile
		want string
	}{
		{"key of another certificate", func() {
			c, _, _ := writePair(t, dir, "c-", certSpec{names: []string{"roster.test"}})
			replace(t, c, certFile)
		}, "private key does not match public key"},
		{"expired", func() {
			c, k, _ := writePair(t, dir, "d-", certSpec{names: []string{"roster.test"}, notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-time.Hour)})
			replace(t, c, certFile)
			replace(t, k, keyFile)
		}, "certificate expired"},
		{"RSA 1024", func() {
			c, k, _ := writePair(t, dir, "e-", certSpec{names: []string{"roster.test"}, rsaBits: 1024})
			replace(t, c, certFile)
			replace(t, k, keyFile)
		}, "at least 2048"},
		{"not PEM", func() {
			os.WriteFile(certFile, []byte("garbage"), 0o600) //nolint:errcheck
		}, "failed to find any PEM data"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			b.make()
			err := fp.Reload()
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Fatalf("Reload = %v, want an error containing %q", err, b.want)
			}
			if got := served(); got.Cmp(serialB) != 0 {
				t.Fatalf("after a failed reload serving %x, want the old %x", got, serialB)
			}
		})
	}

	// A certificate for another name is served, with a warning.
	c3, k3, serialC := writePair(t, dir, "f-", certSpec{names: []string{"other.test"}})
	replace(t, c3, certFile)
	replace(t, k3, keyFile)
	if err := fp.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(); got.Cmp(serialC) != 0 {
		t.Fatalf("serving %x, want %x", got, serialC)
	}
	if !strings.Contains(logs.String(), "does not cover the public host name") {
		t.Errorf("no warning about the name mismatch in the log")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestFilePairWatch(t *testing.T) {
	dir := t.TempDir()
	log, logs := newLog(t)
	certFile, keyFile, _ := writePair(t, dir, "", certSpec{names: []string{"roster.test"}})
	fp, err := tlsserve.NewFilePair(certFile, keyFile, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go fp.Watch(ctx, 20*time.Millisecond)

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	c2, k2, serialB := writePair(t, dir, "b-", certSpec{names: []string{"roster.test"}})
	replace(t, k2, keyFile) // key first: for a moment the pair does not match
	time.Sleep(60 * time.Millisecond)
	replace(t, c2, certFile)
	waitFor("the new certificate", func() bool { return fp.Leaf().SerialNumber.Cmp(serialB) == 0 })

	// A bad pair is reported once and the old certificate kept.
	// (The key-first replacement above may have logged one already.)
	before := strings.Count(logs.String(), "private key does not match")
	c3, _, _ := writePair(t, dir, "c-", certSpec{names: []string{"roster.test"}})
	replace(t, c3, certFile)
	waitFor("the error", func() bool { return strings.Count(logs.String(), "private key does not match") > before })
	time.Sleep(100 * time.Millisecond) // several more polls
	if n := strings.Count(logs.String(), "private key does not match") - before; n != 1 {
		t.Errorf("the bad pair was reported %d times, want once", n)
	}
	if fp.Leaf().SerialNumber.Cmp(serialB) != 0 {
		t.Errorf("a bad pair replaced the certificate")
	}
}

func TestNewFilePairRefusesBadPair(t *testing.T) {
	dir := t.TempDir()
	c, _, _ := writePair(t, dir, "a-", certSpec{names: []string{"roster.test"}})
	_, k, _ := writePair(t, dir, "b-", certSpec{names: []string{"roster.test"}})
	if _, err := tlsserve.NewFilePair(c, k, nil, nil); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("NewFilePair = %v, want a key mismatch error", err)
	}
	if _, err := tlsserve.NewFilePair(filepath.Join(dir, "none.pem"), k, nil, nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("NewFilePair of a missing file = %v", err)
	}
}

// TestACME obtains a certificate from Pebble on 127.0.0.1 with each
// challenge type alone, serves HTTPS with it and checks that the chain
// verifies against Pebble's root and that TLS 1.0/1.1 are refused.
func TestACME(t *testing.T) {
	if testing.Short() {
		t.Skip("ACME against Pebble takes a few seconds")
	}
	for _, tc := range []struct {
		name          string
		tlsALPN, http bool
	}{
		{"tls-alpn-01", true, false},
		{"http-01", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const host = "acme.roster.test"
			dns := dnstest.Start(t)
			dns.AddZone(t, "roster.test", "127.0.0.1")
			dns.Add(t, host+". 60 IN A 127.0.0.1")

			tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			httpLn, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			pebble := pebbletest.Start(t, pebbletest.Options{
				TLSPort:   tlsLn.Addr().(*net.TCPAddr).Port,
				HTTPPort:  httpLn.Addr().(*net.TCPAddr).Port,
				DNSServer: dns.Addr,
			})
			roots, err := tlsserve.LoadRoots(pebble.APIRootFile)
			if err != nil {
				t.Fatal(err)
			}
			log, logs := newLog(t)
			a, err := tlsserve.NewACME(tlsserve.ACMEOptions{
				Domains: []string{host}, Email: "admin@roster.test", DirectoryURL: pebble.DirectoryURL, Roots: roots,
				TLSALPN: tc.tlsALPN, HTTP: tc.http,
				ListenAddr: tlsLn.Addr().String(), HTTPListenAddr: httpLn.Addr().String(),
				Storage: dbstorage.New(openStore(t, t.TempDir()), dbstorage.Options{}), Logger: log,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Stop()
			addr := serve(t, tlsLn, a.TLSConfig())
			httpSrv := &http.Server{Handler: a.HTTPHandler(http.NotFoundHandler())}
			go httpSrv.Serve(httpLn) //nolint:errcheck
			defer httpSrv.Close()

			if err := a.Ready(); err == nil {
				t.Fatal("Ready before any certificate was obtained")
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			start := time.Now()
			if err := a.Manage(ctx); err != nil {
				t.Fatal(err)
			}
			for a.Ready() != nil {
				if time.Since(start) > 30*time.Second {
					t.Fatalf("no certificate after 30 s: %v", a.Ready())
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Logf("certificate obtained in %v", time.Since(start).Round(time.Millisecond))
			leaf, _, err := handshake(addr, host, pebble.IssuerRoots(), tls.VersionTLS12, 0)
			if err != nil {
				t.Fatalf("handshake verifying against Pebble's root: %v", err)
			}
			if !strings.Contains(leaf.Issuer.CommonName, "Pebble") || leaf.DNSNames[0] != host {
				t.Errorf("served certificate: issuer %q, names %v", leaf.Issuer.CommonName, leaf.DNSNames)
			}
			checkVersions(t, addr, host, pebble.IssuerRoots())
			if re := regexp.MustCompile(`msg="served key authentication[^"]*" challenge=` + tc.name); !re.MatchString(logs.String()) {
				t.Errorf("log does not show the %s challenge answered (%s)", tc.name, re)
			}
		})
	}
}
