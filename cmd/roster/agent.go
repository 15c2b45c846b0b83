package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/metrics"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/agent/tlsserve"
	"github.com/rosterhq/roster/assets"
	"github.com/rosterhq/roster/store"
)

// settingPublicURL stores the base URL the agent was last started with, so
// that `roster token issue` in another process prints the right Tenant URL.
const settingPublicURL = "public_url"

type agentFlags struct {
	dns       dnsFlags
	config    string
	listen    string
	publicURL string
	logLevel  string
	logFormat string
	tlsMode   string
	tlsCert   string
	tlsKey    string
	acmeEmail string
	acmeDir   string
	acmeRoot  string
	metrics   string
}

func newAgentCmd(rf *rootFlags) *cobra.Command {
	af := &agentFlags{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the SCIM 2.0 agent that Entra provisions into",
		Long: `Run the SCIM 2.0 service provider in the foreground until interrupted.

Each tenant is served at <public URL>/scim/<tenant>/v2 — that is the Tenant URL
to enter in Entra. On the first start with an empty database the agent creates
the tenant "default", issues a first Secret Token and prints both, once.

Settings come from, lowest first: built-in defaults, the configuration file
(--config or ROSTER_CONFIG; print a documented example with 'roster config
example', check one with 'roster config check'), ROSTER_* environment
variables, then these flags.

HTTPS (--tls-mode): "acme" obtains and renews a certificate for the host of
--public-url from Let's Encrypt (or --acme-directory-url), answering the
tls-alpn-01 challenge on the listen port, which the CA reaches as port 443;
"files" serves --tls-cert-file and --tls-key-file and picks up new files on
SIGHUP and within seconds of a change (a bad new pair is refused and the old
one kept); "off" (the default) serves plain HTTP, only for local trials or
behind a reverse proxy that terminates TLS. Entra accepts only HTTPS with a
publicly trusted certificate and TLS 1.2 or later; the agent never accepts
TLS below 1.2.

Signals: SIGINT or SIGTERM stop the agent gracefully (requests in flight
finish first). SIGHUP rereads the configuration: log.level, rate_limit.* and
the certificate files apply at once; other changed settings need a restart,
and the agent logs which. Under systemd (Type=notify) the agent reports
READY, RELOADING and STOPPING.

/healthz answers while the process serves; /readyz answers 503 until the
store answers and, in acme mode, a certificate has been obtained. Prometheus
metrics are served on --metrics-listen (loopback by default).

Try the API with curl:

` + indent(assets.ExampleCurl, "  "),
		Example: `  roster agent
  roster agent --config /etc/roster/config.json
  roster agent --listen 0.0.0.0:443 --public-url https://roster.example.com --tls-mode acme --acme-email admin@example.com
  roster agent --listen 0.0.0.0:8443 --public-url https://roster.example.com:8443 --tls-mode files \
      --tls-cert-file /etc/roster/tls/cert.pem --tls-key-file /etc/roster/tls/key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			run := func(ctx context.Context) error {
				return runAgent(ctx, cmd, rf, af, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			// Started by the Windows or macOS service manager: answer it.
			if managed, err := runAsService(run); managed {
				return err
			}
			return run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&af.config, "config", os.Getenv("ROSTER_CONFIG"), "configuration file (JSON; see 'roster config example') (env ROSTER_CONFIG)")
	f.StringVar(&af.listen, "listen", "127.0.0.1:8080", "address to serve SCIM on (host:port) (config listen)")
	f.StringVar(&af.publicURL, "public-url", "", "base URL Entra uses to reach this agent, e.g. https://roster.example.com (default: <scheme>://<listen address>) (config public_url)")
	f.StringVar(&af.logLevel, "log-level", "info", "log level: debug, info, warn, error (config log.level)")
	f.StringVar(&af.logFormat, "log-format", "text", "log format: text or json (config log.format)")
	f.StringVar(&af.tlsMode, "tls-mode", "", "acme (automatic certificate), files (your own certificate) or off (plain HTTP behind a proxy) (config tls.mode);\nunset: plain HTTP, allowed only on a loopback --listen")
	f.StringVar(&af.tlsCert, "tls-cert-file", "", "PEM certificate chain for --tls-mode files (config tls.cert_file)")
	f.StringVar(&af.tlsKey, "tls-key-file", "", "PEM private key for --tls-mode files (config tls.key_file)")
	f.StringVar(&af.acmeEmail, "acme-email", "", "contact address for the ACME CA's expiry notices (config tls.acme.email)")
	f.StringVar(&af.acmeDir, "acme-directory-url", config.LetsEncryptProduction, "ACME directory URL of the CA (config tls.acme.directory_url)")
	f.StringVar(&af.acmeRoot, "acme-ca-root", "", "PEM file of extra roots to trust for a private ACME CA (config tls.acme.ca_root)")
	f.Int("event-retention-days", config.Default().EventRetentionDays, "days provisioning events are kept before they are pruned (config event_retention_days)")
	f.StringVar(&af.metrics, "metrics-listen", config.Default().MetricsListen, `address of the Prometheus /metrics listener; "" disables it (config metrics_listen)`)
	af.dns.register(cmd)
	return cmd
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	log, _, err := newLevelLogger(w, level, format)
	return log, err
}

// newLevelLogger returns a logger whose level can change while it runs.
func newLevelLogger(w io.Writer, level, format string) (*slog.Logger, *slog.LevelVar, error) {
	lv := new(slog.LevelVar)
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, usageError{fmt.Errorf("--log-level %q: use debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), lv, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), lv, nil
	}
	return nil, nil, usageError{fmt.Errorf("--log-format %q: use text or json", format)}
}

// loadConfig returns the defaults overlaid with the file at path (if not
// "") and then the ROSTER_* environment. It does not validate.
func loadConfig(path string) (config.Config, error) {
	cfg := config.Default()
	if path != "" {
		var err error
		if cfg, err = config.Load(path); err != nil {
			return cfg, usageError{err}
		}
	}
	if err := cfg.ApplyEnv(os.LookupEnv); err != nil {
		return cfg, invalidConfig("the environment", err)
	}
	return cfg, nil
}

// invalidConfig turns validation problems into a usage error listing them.
func invalidConfig(source string, err error) error {
	var ps config.Problems
	if !errors.As(err, &ps) {
		return usageError{err}
	}
	return usageError{fmt.Errorf("%s: %d invalid setting(s):\n%s", source, len(ps), indent(ps.Error(), "  "))}
}

// agentConfig resolves the agent's configuration from the parsed flags of
// `roster agent`: defaults, the file (--config or ROSTER_CONFIG), the
// environment, then the flags given on the command line; and validates it.
func agentConfig(flags *pflag.FlagSet, rf *rootFlags) (config.Config, error) {
	path, _ := flags.GetString("config")
	cfg, err := loadConfig(path)
	if err != nil {
		return cfg, err
	}
	for name, dst := range map[string]*string{
		"listen":             &cfg.Listen,
		"public-url":         &cfg.PublicURL,
		"log-level":          &cfg.Log.Level,
		"log-format":         &cfg.Log.Format,
		"tls-mode":           &cfg.TLS.Mode,
		"tls-cert-file":      &cfg.TLS.CertFile,
		"tls-key-file":       &cfg.TLS.KeyFile,
		"acme-email":         &cfg.TLS.ACME.Email,
		"acme-directory-url": &cfg.TLS.ACME.DirectoryURL,
		"acme-ca-root":       &cfg.TLS.ACME.CARoot,
		"metrics-listen":     &cfg.MetricsListen,
		"dns-resolver":       &cfg.DNS.Resolver,
		"dns-nameserver":     &cfg.DNS.Nameserver,
		"data-dir":           &cfg.DataDir,
	} {
		if flags.Changed(name) {
			*dst, _ = flags.GetString(name)
		}
	}
	if flags.Changed("event-retention-days") {
		cfg.EventRetentionDays, _ = flags.GetInt("event-retention-days")
	}
	if cfg.DataDir == "" {
		cfg.DataDir = rf.dataDir
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	source := "configuration"
	if path != "" {
		source = path
	}
	if err := cfg.Validate(); err != nil {
		return cfg, invalidConfig(source, err)
	}
	return cfg, nil
}

// tlsModeName names the TLS mode for people: "off (loopback only)" when
// none was chosen.
func tlsModeName(cfg config.Config) string {
	if cfg.TLS.Mode == "" {
		return "off (loopback only)"
	}
	return cfg.TLS.Mode
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

// sdNotify tells systemd about the agent's state; a no-op unless systemd
// started the agent with Type=notify (NOTIFY_SOCKET set).
func sdNotify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("notify systemd", "state", state, "err", err)
	}
}

func runAgent(ctx context.Context, cmd *cobra.Command, rf *rootFlags, af *agentFlags, stdout, stderr io.Writer) error {
	cfg, err := agentConfig(cmd.Flags(), rf)
	if err != nil {
		return err
	}
	rf.dataDir = cfg.DataDir
	log, level, err := newLevelLogger(stderr, strings.ToLower(cfg.Log.Level), cfg.Log.Format)
	if err != nil {
		return err
	}
	opts, err := storeOptions()
	if err != nil {
		return err
	}
	// One agent per data directory (CLI commands open it alongside); taken
	// before the port, so a second agent is told which process runs.
	opts.Exclusive = true
	db, err := store.Open(ctx, rf.dbPath(), opts)
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
	if err := db.Write(ctx, func(tx *store.Tx) error { return tx.SetSetting(settingPublicURL, publicURL) }); err != nil {
		return err
	}
	if err := bootstrap(ctx, dir, publicURL, stdout); err != nil {
		return err
	}
	tenants, err := dir.Tenants(ctx)
	if err != nil {
		return err
	}
	for _, t := range tenants {
		log.Info("serving tenant", "tenant", t.ID, "tenant_url", scimhttp.TenantURL(publicURL, t.ID), "users", t.Users, "groups", t.Groups, "active_tokens", t.ActiveTokens)
		if t.ActiveTokens == 0 {
			log.Warn("tenant has no active Secret Token; issue one with `roster token issue --tenant "+t.ID+"`", "tenant", t.ID)
		}
	}
	open, err := dir.OpenTenants(ctx)
	if err != nil {
		return err
	}
	for _, t := range open {
		log.Warn("tenant has no email domains: it accepts users of ANY domain; add one with `roster domain add DOMAIN --tenant "+t+"`", "tenant", t)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var endpoints []agent.Endpoint
	var mets *metrics.Metrics
	if cfg.MetricsListen != "" {
		// Metrics are auxiliary: a taken port must not keep Entra's endpoint down.
		if mln, err := net.Listen("tcp", cfg.MetricsListen); err != nil {
			log.Error("metrics disabled: cannot listen on metrics_listen; choose another address, or \"\" to disable metrics", "metrics_listen", cfg.MetricsListen, "err", err)
		} else {
			defer mln.Close()
			mets = metrics.New(metrics.Options{Domains: dir, DBPath: db.Path(), Logger: log})
			mux := http.NewServeMux()
			mux.Handle("/metrics", mets.Handler())
			mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "not found: metrics are at /metrics", http.StatusNotFound)
			})
			endpoints = append(endpoints, agent.Endpoint{Name: "metrics", Listener: mln, Handler: mux})
			log.Info("serving metrics", "listen", mln.Addr().String(), "path", "/metrics")
		}
	}
	scimSrv := scimhttp.New(dir, scimhttp.Options{
		PublicURL:  cfg.PublicURL,
		Logger:     log,
		Limits:     scimLimits(cfg.RateLimit),
		ClientAddr: agent.ClientAddr(cfg.Prefixes()),
		Metrics:    mets,
	})
	tlsCfg, ready, files, err := setupTLS(ctx, cfg, ln, publicURL, log, &endpoints)
	if err != nil {
		return err
	}

	tuneGC()
	log.Info("roster agent started", "version", buildVersion(), "listen", ln.Addr().String(), "tls", tlsModeName(cfg),
		"public_url", publicURL, "data_dir", rf.dataDir, "config", af.config)
	if af.config == "" {
		log.Info("no configuration file given (--config or ROSTER_CONFIG): using defaults, ROSTER_* variables and flags")
	}
	if cfg.PlainHTTP() && cfg.PublicURL != "" && strings.HasPrefix(cfg.PublicURL, "https://") && len(cfg.TrustedProxies) == 0 {
		log.Warn("TLS is off and no trusted_proxies are set: behind a reverse proxy every client appears to come from the proxy's address")
	}
	a := agent.New(dir, agent.Options{
		PublicURL:       cfg.PublicURL,
		Logger:          log,
		DomainChecker:   (&dnsFlags{resolver: cfg.DNS.Resolver, nameserver: cfg.DNS.Nameserver}).checker(),
		ShutdownTimeout: time.Duration(cfg.ShutdownTimeout),
		EventRetention:  time.Duration(cfg.EventRetentionDays) * 24 * time.Hour,
		TLSConfig:       tlsCfg,
		Handler:         scimSrv,
		Ready:           ready,
		Endpoints:       endpoints,
	})

	live := &liveConfig{cfg: cfg, log: log, level: level, scim: scimSrv, files: files,
		resolve: func() (config.Config, error) { return agentConfig(cmd.Flags(), rf) }}
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
	go watchdog(ctx, log, db)
	go func() {
		<-ctx.Done()
		sdNotify(log, daemon.SdNotifyStopping)
	}()
	sdNotify(log, daemon.SdNotifyReady)
	err = a.Serve(ctx, ln)
	log.Info("roster agent stopped")
	return err
}

// setupTLS prepares the chosen TLS mode: the server configuration, the
// readiness condition, the certificate files (mode files, for reloads) and,
// for the ACME http-01 challenge, a side endpoint.
func setupTLS(ctx context.Context, cfg config.Config, ln net.Listener, publicURL string, log *slog.Logger, endpoints *[]agent.Endpoint) (*tls.Config, func() error, *tlsserve.FilePair, error) {
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
			return nil, nil, nil, usageError{fmt.Errorf("tls: %w; fix tls.cert_file and tls.key_file", err)}
		}
		go fp.Watch(ctx, time.Duration(cfg.TLS.ReloadInterval))
		return fp.TLSConfig(), nil, fp, nil
	case config.TLSModeACME:
		a := cfg.TLS.ACME
		var roots *x509.CertPool
		if a.CARoot != "" {
			var err error
			if roots, err = tlsserve.LoadRoots(a.CARoot); err != nil {
				return nil, nil, nil, usageError{fmt.Errorf("tls.acme.ca_root: %w", err)}
			}
		}
		opt := tlsserve.ACMEOptions{
			Domains: []string{host}, Email: a.Email, DirectoryURL: a.DirectoryURL, Roots: roots,
			TLSALPN: slices.Contains(a.Challenges, config.ChallengeTLSALPN), HTTP: slices.Contains(a.Challenges, config.ChallengeHTTP),
			ListenAddr: ln.Addr().String(), DataDir: cfg.DataDir, Logger: log,
		}
		if opt.DataDir == "" {
			return nil, nil, nil, errors.New("acme: no data directory")
		}
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
			*endpoints = append(*endpoints, agent.Endpoint{Name: "acme-http-01", Listener: httpLn, Handler: m.HTTPHandler(redirect)})
		}
		if err := m.Manage(ctx); err != nil {
			return nil, nil, nil, err
		}
		return m.TLSConfig(), m.Ready, nil, nil
	}
	return nil, nil, nil, nil
}

// liveConfig is the running agent's configuration and the parts of it a
// reload (SIGHUP) can change without a restart.
type liveConfig struct {
	mu      sync.Mutex
	cfg     config.Config
	log     *slog.Logger
	level   *slog.LevelVar
	scim    *scimhttp.Server
	files   *tlsserve.FilePair
	resolve func() (config.Config, error)
}

// liveSettings are the settings a reload applies at once; changes to any
// other setting are logged as needing a restart.
var liveSettings = []string{"log.level", "rate_limit."}

// reload rereads the configuration (file, environment, flags) and the
// certificate files. An invalid configuration is logged and the running one
// kept. Requests are served throughout: the new limits, log level and
// certificate apply from the next request or handshake.
func (l *liveConfig) reload() {
	l.mu.Lock()
	defer l.mu.Unlock()
	sdNotify(l.log, daemon.SdNotifyReloading+"\n"+daemon.SdNotifyMonotonicUsec())
	defer sdNotify(l.log, daemon.SdNotifyReady)
	l.log.Info("reloading configuration and certificates (SIGHUP)")
	if l.files != nil {
		if err := l.files.Reload(); err != nil {
			l.log.Error("reload TLS certificate failed; still serving the previous certificate", "err", err)
		}
	}
	cfg, err := l.resolve()
	if err != nil {
		l.log.Error("reload: the configuration is invalid; keeping the running one", "err", err.Error())
		return
	}
	if err := l.level.UnmarshalText([]byte(strings.ToLower(cfg.Log.Level))); err == nil && cfg.Log.Level != l.cfg.Log.Level {
		l.log.Info("log level changed", "level", cfg.Log.Level)
	}
	if cfg.RateLimit != l.cfg.RateLimit {
		l.scim.SetLimits(scimLimits(cfg.RateLimit))
		l.log.Info("rate limits changed", "failed_auth_per_minute", cfg.RateLimit.FailedAuthPerMinute, "failed_auth_burst", cfg.RateLimit.FailedAuthBurst,
			"requests_per_second", cfg.RateLimit.RequestsPerSecond, "burst", cfg.RateLimit.Burst)
	}
	if changed := restartNeeded(l.cfg, cfg); len(changed) > 0 {
		l.log.Warn("these settings changed but apply only after a restart (systemctl restart roster)", "settings", changed)
	}
	// Keep the settings that need a restart as they run, so that the next
	// reload reports them again until the restart.
	live := l.cfg
	live.Log.Level, live.RateLimit = cfg.Log.Level, cfg.RateLimit
	l.cfg = live
	l.log.Info("configuration reloaded")
}

// restartNeeded lists the settings (file keys) that differ between a and b
// and that a reload cannot apply.
func restartNeeded(a, b config.Config) []string {
	fa, fb := flatten(a), flatten(b)
	var out []string
	for k, v := range fb {
		if fa[k] == v || slices.ContainsFunc(liveSettings, func(p string) bool { return strings.HasPrefix(k, p) }) {
			continue
		}
		out = append(out, k)
	}
	for k := range fa {
		if _, ok := fb[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// flatten maps each setting's dotted key to its JSON value.
func flatten(c config.Config) map[string]string {
	b, _ := c.Marshal()
	var m map[string]any
	json.Unmarshal(b, &m) //nolint:errcheck // our own JSON
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if obj, ok := v.(map[string]any); ok {
			for k, x := range obj {
				walk(prefix+k+".", x)
			}
			return
		}
		j, _ := json.Marshal(v)
		out[strings.TrimSuffix(prefix, ".")] = string(j)
	}
	walk("", m)
	return out
}

// watchdog sends WATCHDOG=1 at half systemd's WatchdogSec while the store
// answers; it returns at once when the unit has no watchdog.
func watchdog(ctx context.Context, log *slog.Logger, db *store.DB) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, interval/4)
		err := db.Read(rctx, func(*store.Tx) error { return nil })
		cancel()
		if err != nil {
			log.Warn("watchdog: the store did not answer; not telling systemd we are alive", "err", err)
			continue
		}
		sdNotify(log, daemon.SdNotifyWatchdog)
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

// storedPublicURL returns the base URL the agent last ran with, or the
// default listen address's when it never ran (or the setting cannot be read).
func storedPublicURL(ctx context.Context, db *store.DB) string {
	var v string
	err := db.Read(ctx, func(tx *store.Tx) (err error) { v, err = tx.Setting(settingPublicURL); return })
	if err != nil || v == "" {
		return "http://127.0.0.1:8080"
	}
	return v
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
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
