package tlsserve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// FilePair serves a certificate/key pair read from two PEM files. Reload
// reads them again; a pair that does not load or fails checkCert is refused
// and the previous certificate keeps being served. Handshakes never wait for
// a reload: the certificate is swapped atomically.
type FilePair struct {
	certFile, keyFile string
	names             []string
	log               *slog.Logger

	cur atomic.Pointer[tls.Certificate]

	mu      sync.Mutex // serializes Reload and the watcher
	lastSum [sha256.Size]byte
}

// NewFilePair loads the pair once and returns an error if it is unusable.
// names are the host names the certificate should cover; a certificate that
// does not cover them is served with a warning in the log.
func NewFilePair(certFile, keyFile string, names []string, log *slog.Logger) (*FilePair, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &FilePair{certFile: certFile, keyFile: keyFile, names: names, log: log}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload reads both files and, if the pair is good, serves it from the next
// handshake on. On error the old certificate stays in place.
func (f *FilePair) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.reloadLocked(true)
	return err
}

// reloadLocked loads the files; unless force, it does nothing when their
// contents are what it saw last time (whether that load worked or not, so a
// bad pair is reported once, not on every poll).
func (f *FilePair) reloadLocked(force bool) (bool, error) {
	certPEM, err := os.ReadFile(f.certFile)
	if err != nil {
		return false, fmt.Errorf("read certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(f.keyFile)
	if err != nil {
		return false, fmt.Errorf("read private key: %w", err)
	}
	sum := sha256.Sum256(bytes.Join([][]byte{certPEM, keyPEM}, []byte{0}))
	if !force && sum == f.lastSum {
		return false, nil
	}
	f.lastSum = sum
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, fmt.Errorf("load %s and %s: %w", f.certFile, f.keyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return false, fmt.Errorf("parse %s: %w", f.certFile, err)
		}
		cert.Leaf = leaf
	}
	warn, err := checkCert(leaf, time.Now())
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.certFile, err)
	}
	if warn != "" {
		f.log.Warn("TLS certificate "+warn+"; replace the files, then reload", "cert_file", f.certFile)
	}
	for _, n := range f.names {
		if err := leaf.VerifyHostname(n); err != nil {
			f.log.Warn("TLS certificate does not cover the public host name; Entra will refuse it", "host", n, "cert_names", leaf.DNSNames, "cert_file", f.certFile)
		}
	}
	old := f.cur.Swap(&cert)
	if old == nil || !bytes.Equal(old.Certificate[0], cert.Certificate[0]) {
		f.log.Info("TLS certificate loaded", "cert_file", f.certFile, "names", leaf.DNSNames,
			"serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return true, nil
}

// Watch checks the files every interval until ctx ends and reloads them when
// their contents change. A failed reload is logged and the old certificate
// kept; the same bad contents are not reported again.
func (f *FilePair) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.Lock()
		_, err := f.reloadLocked(false)
		f.mu.Unlock()
		if err != nil {
			f.log.Error("TLS certificate files changed but cannot be used; still serving the previous certificate", "err", err)
		}
	}
}

// Leaf returns the certificate being served.
func (f *FilePair) Leaf() *x509.Certificate { return f.cur.Load().Leaf }

// TLSConfig returns a server configuration that serves the current pair.
func (f *FilePair) TLSConfig() *tls.Config {
	return serverConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return f.cur.Load(), nil })
}
