package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/domainproof"
	"github.com/rosterhq/roster/agent/metrics"
	"github.com/rosterhq/roster/agent/oauth"
	"github.com/rosterhq/roster/agent/oauth/jwtbearer"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/agent/webhook"
	"github.com/rosterhq/roster/store"
)

// DatabaseFile is the name of the store's file in the data directory.
const DatabaseFile = "roster.db"

// RunOptions is what Run needs besides the configuration.
type RunOptions struct {
	// LogOutput receives the agent's log, in cfg.Log.Format and at
	// cfg.Log.Level (a reload may change the level); nil discards it.
	LogOutput io.Writer
	// Stdout receives the first-start banner (the tenant "default", its
	// Tenant URL and first Secret Token), printed once; nil discards it.
	Stdout io.Writer
	// Reload, when set, resolves the configuration again on SIGHUP (file,
	// environment, flags); the settings a reload can apply apply at once.
	// With nil, SIGHUP rereads only the certificate files.
	Reload func() (config.Config, error)
	// Listening, when set, is called once the agent serves, with the address
	// its SCIM listener is bound to (the chosen port when cfg.Listen asks
	// for port 0) and the public base URL its Tenant URLs start with.
	Listening func(addr net.Addr, publicURL string)
	// DomainChecker checks the TXT records of email domains; nil uses a
	// domainproof.Checker over cfg.DNS.
	DomainChecker directory.DomainChecker
	// Store tunes the store opened at <cfg.DataDir>/roster.db.
	Store store.Options
	// Version is reported in the start-up log.
	Version string
	// ConfigFile names the configuration file in the start-up log; ""
	// logs that none was given.
	ConfigFile string
	// AssertionVerifier checks the assertions of OAuth federation clients
	// at the token endpoint (docs/oauth.md); nil means a jwtbearer.Verifier
	// of the agent's own (docs/federation.md).
	AssertionVerifier oauth.AssertionVerifier
}

// ConfigError is an error of Run that the configuration caused and that
// changing the configuration fixes, such as a certificate file that cannot
// be loaded.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Run runs the agent that cfg describes until ctx ends, then
// shuts it down gracefully and returns nil. It opens the store in
// cfg.DataDir; on the first start with an empty store it creates the tenant
// "default" and its first Secret Token and prints both to opts.Stdout. It
// serves SCIM on cfg.Listen with the chosen TLS mode, metrics on
// cfg.MetricsListen, and the ACME http-01 listener when enabled; SIGHUP
// reloads (see RunOptions.Reload); under systemd it reports READY,
// RELOADING, STOPPING and feeds the watchdog. It also sets the process's
// soft memory limit (see tuneGC). An invalid cfg is a *ConfigError listing
// the problems (config.Problems).
func Run(ctx context.Context, cfg config.Config, opts RunOptions) error {
	if err := cfg.Validate(); err != nil {
		return &ConfigError{err}
	}
	if opts.LogOutput == nil {
		opts.LogOutput = io.Discard
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	log, level, err := newLogger(opts.LogOutput, strings.ToLower(cfg.Log.Level), cfg.Log.Format)
	if err != nil {
		return &ConfigError{err}
	}
	// One agent per data directory (the CLI's commands open it alongside);
	// the lock is taken before the port, so a second agent is told which
	// process runs rather than "address in use".
	sopts := opts.Store
	sopts.Exclusive = true
	if sopts.Log == nil {
		sopts.Log = log
	}
	db, err := store.Open(ctx, cfg.StoreLocation(DatabaseFile), sopts)
	if err != nil {
		return err
	}
	defer db.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	defer ln.Close()
	publicURL := cfg.PublicURL
	if publicURL == "" {
		scheme := "https"
		if cfg.PlainHTTP() {
			scheme = "http"
		}
		publicURL = scheme + "://" + displayAddr(ln.Addr().String())
	}
	dir := directory.New(db, log, nil)
	if err := dir.SetPublicURL(ctx, publicURL); err != nil {
		return err
	}
	if err := bootstrap(ctx, dir, publicURL, opts.Stdout); err != nil {
		return err
	}
	if err := logTenants(ctx, dir, publicURL, log); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var endpoints []Endpoint
	var mets *metrics.Metrics
	if cfg.MetricsListen != "" {
		// Metrics are auxiliary: a taken port must not keep Entra's endpoint down.
		if mln, err := net.Listen("tcp", cfg.MetricsListen); err != nil {
			log.Error("metrics disabled: cannot listen on metrics_listen; choose another address, or \"\" to disable metrics", "metrics_listen", cfg.MetricsListen, "err", err)
		} else {
			defer mln.Close()
			mets = metrics.New(metrics.Options{Domains: dir, DBPath: dbFile(cfg, db), Logger: log})
			mux := http.NewServeMux()
			mux.Handle("/metrics", mets.Handler())
			mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "not found: metrics are at /metrics", http.StatusNotFound)
			})
			endpoints = append(endpoints, Endpoint{Name: "metrics", Listener: mln, Handler: mux})
			log.Info("serving metrics", "listen", mln.Addr().String(), "path", "/metrics")
		}
	}
	scimSrv := scimhttp.New(dir, scimhttp.Options{
		PublicURL:  cfg.PublicURL,
		Logger:     log,
		Limits:     scimLimits(cfg.RateLimit),
		ClientAddr: ClientAddr(cfg.Prefixes()),
		Metrics:    mets,
		OAuth:      oauth.Options{AccessTokenLifetime: time.Duration(cfg.OAuth.AccessTokenLifetime), Verifier: assertionVerifier(opts.AssertionVerifier)},
	})
	tlsCfg, ready, files, err := setupTLS(ctx, cfg, db, ln, publicURL, log, &endpoints)
	if err != nil {
		return err
	}

	tuneGC()
	log.Info("roster agent started", "version", opts.Version, "listen", ln.Addr().String(), "tls", cfg.TLSModeName(),
		"public_url", publicURL, "data_dir", cfg.DataDir, "config", opts.ConfigFile)
	if opts.ConfigFile == "" {
		log.Info("no configuration file given (--config or ROSTER_CONFIG): using defaults, ROSTER_* variables and flags")
	}
	if cfg.PlainHTTP() && cfg.PublicURL != "" && strings.HasPrefix(cfg.PublicURL, "https://") && len(cfg.TrustedProxies) == 0 {
		log.Warn("TLS is off and no trusted_proxies are set: behind a reverse proxy every client appears to come from the proxy's address")
	}
	checker := opts.DomainChecker
	if checker == nil {
		checker = domainChecker(cfg.DNS)
	}
	hooks, err := newWebhooks(cfg.Webhooks, dir, publicURL, log)
	if err != nil {
		return err
	}
	a := New(dir, Options{
		PublicURL:       cfg.PublicURL,
		Logger:          log,
		DomainChecker:   checker,
		ShutdownTimeout: time.Duration(cfg.ShutdownTimeout),
		EventRetention:  time.Duration(cfg.EventRetentionDays) * 24 * time.Hour,
		ChangeRetention: time.Duration(cfg.ChangeRetention),
		TLSConfig:       tlsCfg,
		Handler:         scimSrv,
		Ready:           ready,
		Endpoints:       endpoints,
		Webhooks:        hooks,
	})

	resolve := opts.Reload
	if resolve == nil {
		resolve = func() (config.Config, error) { return cfg, nil }
	}
	live := &liveConfig{cfg: cfg, log: log, level: level, scim: scimSrv, files: files, resolve: resolve}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				live.reload()
			}
		}
	}()
	go watchdog(ctx, log, dir)
	go func() {
		<-ctx.Done()
		sdNotify(log, daemon.SdNotifyStopping)
	}()
	sdNotify(log, daemon.SdNotifyReady)
	if opts.Listening != nil {
		opts.Listening(ln.Addr(), publicURL)
	}
	err = a.Serve(ctx, ln)
	log.Info("roster agent stopped")
	return err
}

// newWebhooks returns the dispatcher that delivers dir's change log to its
// webhook endpoints, trusting cfg's extra CA.
func newWebhooks(cfg config.Webhooks, dir *directory.Service, publicURL string, log *slog.Logger) (*webhook.Dispatcher, error) {
	var ca []byte
	if cfg.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(cfg.CAFile); err != nil {
			return nil, &ConfigError{fmt.Errorf("webhooks.ca_file: %w", err)}
		}
	}
	client, err := webhook.NewClient(ca, 0)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("webhooks.ca_file %s: %w", cfg.CAFile, err)}
	}
	return webhook.New(dir, dir, webhook.Options{Client: client, Logger: log,
		Issuer: func(tenant string) string { return scimhttp.TenantURL(publicURL, tenant) }})
}

// newLogger returns a logger whose level can change while it runs.
func newLogger(w io.Writer, level, format string) (*slog.Logger, *slog.LevelVar, error) {
	lv := new(slog.LevelVar)
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("log.level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), lv, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), lv, nil
	}
	return nil, nil, fmt.Errorf("log.format %q: use text or json", format)
}

// logTenants logs each tenant served, and warns about tenants without an
// active Secret Token or OAuth client, or without email domains.
func logTenants(ctx context.Context, dir *directory.Service, publicURL string, log *slog.Logger) error {
	tenants, err := dir.Tenants(ctx)
	if err != nil {
		return err
	}
	for _, t := range tenants {
		log.Info("serving tenant", "tenant", t.ID, "tenant_url", scimhttp.TenantURL(publicURL, t.ID), "users", t.Users, "groups", t.Groups, "active_tokens", t.ActiveTokens)
		if t.ActiveTokens == 0 {
			clients, err := dir.ListOAuthClients(ctx, t.ID)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(clients, (*store.OAuthClient).Active) {
				log.Warn("tenant has no active Secret Token nor OAuth client; issue one with `roster token issue --tenant "+t.ID+"`", "tenant", t.ID)
			}
		}
	}
	open, err := dir.OpenTenants(ctx)
	if err != nil {
		return err
	}
	for _, t := range open {
		log.Warn("tenant has no email domains: it accepts users of ANY domain; add one with `roster domain add DOMAIN --tenant "+t+"`", "tenant", t)
	}
	return nil
}

// domainChecker checks TXT records through the resolver and nameserver of
// the configuration.
func domainChecker(c config.DNS) *domainproof.Checker {
	ch := &domainproof.Checker{Resolver: c.Resolver}
	if c.Nameserver != "" {
		ch.Nameservers = []string{c.Nameserver}
	}
	return ch
}

// scimLimits maps the configured rate limits onto the SCIM handler's.
func scimLimits(r config.RateLimit) scimhttp.Limits {
	return scimhttp.Limits{
		AuthFailuresPerMinute:       float64(r.FailedAuthPerMinute),
		AuthFailureBurst:            r.FailedAuthBurst,
		GlobalAuthFailuresPerMinute: float64(r.FailedAuthGlobalPerMinute),
		GlobalAuthFailureBurst:      r.FailedAuthGlobalBurst,
		TokenRequestsPerSecond:      r.RequestsPerSecond,
		TokenBurst:                  r.Burst,
	}
}

// displayAddr turns a listen address into one a client can use.
func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		} else {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, port)
}

// bootstrap creates the default tenant and a first token on an empty store,
// and prints them once, so `roster agent` alone is a complete demo.
func bootstrap(ctx context.Context, dir *directory.Service, publicURL string, out io.Writer) error {
	tenants, err := dir.Tenants(ctx)
	if err != nil || len(tenants) > 0 {
		return err
	}
	if _, err := dir.AddTenant(ctx, directory.DefaultTenant, "Default", store.TenantSettings{}); err != nil {
		if errors.Is(err, directory.ErrTenantExists) { // another process won the race
			return nil
		}
		return err
	}
	issued, err := dir.IssueToken(ctx, directory.DefaultTenant, "initial", false, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, `
First start: created tenant %q and its first Secret Token.

  Tenant URL:   %s
  Secret Token: %s

Enter both in Entra (Enterprise application → Provisioning → Admin Credentials).
The token is shown only now; only its hash is stored. Issue more with
'roster token issue', list them with 'roster token list'.

Try it:
  curl -H 'Authorization: Bearer %s' '%s/Users?filter=userName+eq+%%22alice@example.com%%22'

`, directory.DefaultTenant, scimhttp.TenantURL(publicURL, directory.DefaultTenant), issued.Token.Reveal(),
		issued.Token.Reveal(), scimhttp.TenantURL(publicURL, directory.DefaultTenant))
	return nil
}

// tuneGC sets a 64 MiB soft memory limit. It used to raise GOGC to 200 for
// lookup throughput (the collector takes ~10% of a lookup's CPU at 100), but
// since the binary also carries the wizard, the Graph SDK, ACME and
// Prometheus, ~30 MB of it is resident as file-backed pages, and GOGC=200
// pushed the agent past its 60 MB budget (65.6 MB, p99 at 2,000/s 6.2 ms;
// at Go's default 100: 57.5 MB, 3.9 ms, lookups within the run-to-run
// noise). GOGC / GOMEMLIMIT in the environment take precedence.
func tuneGC() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(64 << 20)
	}
}

// assertionVerifier is v, or without one the verifier of federation
// clients' assertions (docs/federation.md). It accepts http JWKS URLs on
// loopback addresses: a federation's URLs are checked when it is added,
// where only --allow-private-url (a lab) lets such a URL in.
func assertionVerifier(v oauth.AssertionVerifier) oauth.AssertionVerifier {
	if v != nil {
		return v
	}
	return jwtbearer.New(jwtbearer.Options{AllowHTTPLoopback: true})
}

// dbFile is the SQLite file whose size the metrics report; "" on
// PostgreSQL, whose size the server reports itself.
func dbFile(cfg config.Config, db *store.DB) string {
	if cfg.Database.URL != "" {
		return ""
	}
	return db.Path()
}
