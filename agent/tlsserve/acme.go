package tlsserve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/certmagic"
)

// ACMEOptions configures automatic certificates.
type ACMEOptions struct {
	// Domains are the names the certificate is for (the public URL's host).
	Domains []string
	// Email is the contact address given to the CA; may be "".
	Email string
	// DirectoryURL is the CA's ACME directory URL.
	DirectoryURL string
	// Roots are the roots trusted when talking to the directory; nil trusts
	// the system's (see LoadRoots).
	Roots *x509.CertPool
	// TLSALPN enables the tls-alpn-01 challenge, answered by the TLS
	// listener at ListenAddr, which serves TLSConfig.
	TLSALPN bool
	// HTTP enables the http-01 challenge, answered by HTTPHandler on the
	// listener at HTTPListenAddr.
	HTTP bool
	// ListenAddr is the TLS listener's address (host:port).
	ListenAddr string
	// HTTPListenAddr is the http-01 listener's address (host:port).
	HTTPListenAddr string
	// Storage keeps the ACME account and the certificates, so that a
	// restart neither creates an account nor asks for a certificate again;
	// agents that share it (see package dbstorage) share the certificate,
	// and its locks make one of them obtain and renew it.
	Storage certmagic.Storage
	// Logger receives certmagic's log, as slog records.
	Logger *slog.Logger
}

// ACME obtains and renews certificates from an ACME CA with certmagic.
type ACME struct {
	opt    ACMEOptions
	cache  *certmagic.Cache
	cfg    *certmagic.Config
	issuer *certmagic.ACMEIssuer
	log    *slog.Logger
}

// NewACME prepares certificate management; nothing is requested from the CA
// before Manage.
func NewACME(opt ACMEOptions) (*ACME, error) {
	if len(opt.Domains) == 0 {
		return nil, errors.New("acme: no domain names: set public_url to https://<the agent's DNS name>")
	}
	if opt.Storage == nil {
		return nil, errors.New("acme: no certificate storage")
	}
	if !opt.TLSALPN && !opt.HTTP {
		return nil, errors.New("acme: no challenge type enabled: enable tls-alpn-01 or http-01")
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	zl := zapToSlog(log)
	a := &ACME{opt: opt, log: log}
	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return a.cfg, nil },
		Logger:           zl,
	})
	a.cfg = certmagic.New(a.cache, certmagic.Config{
		Storage: opt.Storage,
		Logger:  zl,
		// Let's Encrypt no longer runs OCSP responders; never call out for staples.
		OCSP: certmagic.OCSPConfig{DisableStapling: true},
	})
	tmpl := certmagic.ACMEIssuer{
		CA:                      opt.DirectoryURL,
		Email:                   opt.Email,
		Agreed:                  true,
		TrustedRoots:            opt.Roots,
		DisableTLSALPNChallenge: !opt.TLSALPN,
		DisableHTTPChallenge:    !opt.HTTP,
		Logger:                  zl,
	}
	// The challenge listeners are ours (started before Manage); telling
	// certmagic their addresses makes its solvers find the ports taken and
	// rely on our listeners instead of binding :443 and :80 themselves.
	if opt.TLSALPN {
		host, port, err := splitPort(opt.ListenAddr)
		if err != nil {
			return nil, fmt.Errorf("acme: listen address: %w", err)
		}
		tmpl.ListenHost, tmpl.AltTLSALPNPort = host, port
	}
	if opt.HTTP {
		host, port, err := splitPort(opt.HTTPListenAddr)
		if err != nil {
			return nil, fmt.Errorf("acme: http-01 listen address: %w", err)
		}
		if tmpl.ListenHost == "" {
			tmpl.ListenHost = host
		}
		tmpl.AltHTTPPort = port
	}
	a.issuer = certmagic.NewACMEIssuer(a.cfg, tmpl)
	a.cfg.Issuers = []certmagic.Issuer{a.issuer}
	return a, nil
}

func splitPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number", p)
	}
	return host, port, nil
}

// Manage loads the certificates from storage, before it returns, and
// obtains or renews them in the background, for as long as the ACME value
// lives (until Stop). Call it once the listeners are bound, since the CA's
// validation connects to them.
//
// certmagic's ManageAsync loads a stored certificate in a goroutine of its
// own, so a handshake accepted right after it returned could find the cache
// still empty and fail with "tls: internal error" (GetCertificate returns no
// certificate) until the goroutine had read storage; hence the synchronous
// load first. ManageAsync then skips the names already cached, so the check
// of a loaded certificate for renewal (and its ARI update) that it would have
// made is started here instead.
func (a *ACME) Manage(ctx context.Context) error {
	a.log.Info("managing TLS certificates with ACME", "domains", a.opt.Domains, "directory", a.opt.DirectoryURL,
		"tls_alpn_01", a.opt.TLSALPN, "http_01", a.opt.HTTP, "storage", fmt.Sprint(a.opt.Storage))
	loaded := false
	for _, d := range a.opt.Domains {
		_, err := a.cfg.CacheManagedCertificate(ctx, d)
		switch {
		case err == nil:
			loaded = true
		case !errors.Is(err, fs.ErrNotExist):
			// ManageAsync tries again, and obtains a new one if it must.
			a.log.Warn("cannot load the stored TLS certificate", "domain", d, "err", err)
		}
	}
	if err := a.cfg.ManageAsync(ctx, a.opt.Domains); err != nil {
		return fmt.Errorf("manage certificates for %s: %w", strings.Join(a.opt.Domains, ", "), err)
	}
	if loaded {
		go func() {
			if err := a.cache.RenewManagedCertificates(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("checking the stored TLS certificates for renewal", "err", err)
			}
		}()
	}
	return nil
}

// Ready returns nil once a certificate for every domain is available.
func (a *ACME) Ready() error {
	for _, d := range a.opt.Domains {
		if len(a.cache.AllMatchingCertificates(d)) == 0 {
			return fmt.Errorf("no TLS certificate for %s yet (obtaining it from %s)", d, a.opt.DirectoryURL)
		}
	}
	return nil
}

// TLSConfig returns the server configuration for the SCIM listener: it
// serves the managed certificates and answers tls-alpn-01 challenges.
func (a *ACME) TLSConfig() *tls.Config {
	c := serverConfig(a.cfg.GetCertificate)
	c.NextProtos = append(c.NextProtos, "acme-tls/1")
	return c
}

// HTTPHandler answers http-01 challenges and passes every other request
// to next.
func (a *ACME) HTTPHandler(next http.Handler) http.Handler {
	return a.issuer.HTTPChallengeHandler(next)
}

// Stop ends certificate maintenance.
func (a *ACME) Stop() { a.cache.Stop() }
