package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/tlsserve"
	"github.com/rosterhq/roster/agent/tlsserve/dbstorage"
	"github.com/rosterhq/roster/store"
)

// setupTLS prepares the chosen TLS mode: the server configuration, the
// readiness condition, the certificate files (mode files, for reloads) and,
// for the ACME http-01 challenge, a side endpoint. ACME keeps its account
// and certificates in db, shared by every agent on it.
func setupTLS(ctx context.Context, cfg config.Config, db *store.DB, ln net.Listener, publicURL string, log *slog.Logger, endpoints *[]Endpoint) (*tls.Config, func() error, *tlsserve.FilePair, error) {
	host := ""
	if u, err := url.Parse(publicURL); err == nil {
		host = u.Hostname()
	}
	switch cfg.TLS.Mode {
	case config.TLSModeFiles:
		var names []string
		if cfg.PublicURL != "" {
			names = []string{host}
		}
		fp, err := tlsserve.NewFilePair(cfg.TLS.CertFile, cfg.TLS.KeyFile, names, log)
		if err != nil {
			return nil, nil, nil, &ConfigError{fmt.Errorf("tls: %w; fix tls.cert_file and tls.key_file", err)}
		}
		go fp.Watch(ctx, time.Duration(cfg.TLS.ReloadInterval))
		return fp.TLSConfig(), nil, fp, nil
	case config.TLSModeACME:
		a := cfg.TLS.ACME
		var roots *x509.CertPool
		if a.CARoot != "" {
			var err error
			if roots, err = tlsserve.LoadRoots(a.CARoot); err != nil {
				return nil, nil, nil, &ConfigError{fmt.Errorf("tls.acme.ca_root: %w", err)}
			}
		}
		opt := tlsserve.ACMEOptions{
			Domains: []string{host}, Email: a.Email, DirectoryURL: a.DirectoryURL, Roots: roots,
			TLSALPN: slices.Contains(a.Challenges, config.ChallengeTLSALPN), HTTP: slices.Contains(a.Challenges, config.ChallengeHTTP),
			ListenAddr: ln.Addr().String(), Logger: log,
		}
		st := dbstorage.New(db, dbstorage.Options{Logger: log})
		importFileCerts(ctx, st, cfg.DataDir, log)
		opt.Storage = st
		var httpLn net.Listener
		if opt.HTTP {
			var err error
			if httpLn, err = net.Listen("tcp", a.HTTPListen); err != nil {
				return nil, nil, nil, fmt.Errorf("listen for ACME http-01 challenges on %s: %w", a.HTTPListen, err)
			}
			opt.HTTPListenAddr = httpLn.Addr().String()
		}
		m, err := tlsserve.NewACME(opt)
		if err != nil {
			if httpLn != nil {
				httpLn.Close()
			}
			return nil, nil, nil, err
		}
		context.AfterFunc(ctx, m.Stop)
		if httpLn != nil {
			// Anything but a challenge on the plain-HTTP port goes to HTTPS.
			redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, strings.TrimRight(publicURL, "/")+r.URL.RequestURI(), http.StatusMovedPermanently)
			})
			*endpoints = append(*endpoints, Endpoint{Name: "acme-http-01", Listener: httpLn, Handler: m.HTTPHandler(redirect)})
		}
		if err := m.Manage(ctx); err != nil {
			return nil, nil, nil, err
		}
		return m.TLSConfig(), m.Ready, nil, nil
	}
	return nil, nil, nil, nil
}

// fileCertsDir is where versions before the database storage kept ACME
// certificates: certmagic's file storage in the data directory.
const fileCertsDir = "certmagic"

// importFileCerts copies, once per database, the certificates and ACME
// account that earlier versions kept in <data dir>/certmagic, so that an
// upgraded agent serves its certificate instead of asking the CA again
// (Let's Encrypt limits how often a certificate is issued). A failure is
// logged, not fatal: the agent then obtains a new certificate, and tries the
// import again at its next start.
func importFileCerts(ctx context.Context, st *dbstorage.Storage, dataDir string, log *slog.Logger) {
	if dataDir == "" {
		return
	}
	dir := filepath.Join(dataDir, fileCertsDir)
	n, err := st.ImportFiles(ctx, dir)
	switch {
	case err != nil:
		log.Error("cannot import the ACME certificates of the data directory into the database; a new certificate will be obtained", "dir", dir, "err", err)
	case n > 0:
		log.Info("imported the ACME account and certificates of the data directory into the database; the files there are no longer used", "dir", dir, "keys", n)
	}
}
