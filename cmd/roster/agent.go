package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/assets"
	"github.com/rosterhq/roster/store"
)

// settingPublicURL stores the base URL the agent was last started with, so
// that `roster token issue` in another process prints the right Tenant URL.
const settingPublicURL = "public_url"

type agentFlags struct {
	dns       dnsFlags
	listen    string
	publicURL string
	logLevel  string
	logFormat string
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

SIGINT or SIGTERM stop the agent gracefully: requests in flight finish first.

Try the API with curl:

` + indent(assets.ExampleCurl, "  "),
		Example: `  roster agent
  roster agent --listen 0.0.0.0:8443 --public-url https://roster.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd.Context(), rf, af, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&af.listen, "listen", "127.0.0.1:8080", "address to serve SCIM on (host:port)")
	cmd.Flags().StringVar(&af.publicURL, "public-url", "", "base URL Entra uses to reach this agent, e.g. https://roster.example.com (default: http://<listen address>)")
	cmd.Flags().StringVar(&af.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	cmd.Flags().StringVar(&af.logFormat, "log-format", "text", "log format: text or json")
	af.dns.register(cmd)
	return cmd
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: use debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: use text or json", format)}
}

func runAgent(ctx context.Context, rf *rootFlags, af *agentFlags, stdout, stderr io.Writer) error {
	log, err := newLogger(stderr, af.logLevel, af.logFormat)
	if err != nil {
		return err
	}
	if af.publicURL != "" && !strings.HasPrefix(af.publicURL, "http://") && !strings.HasPrefix(af.publicURL, "https://") {
		return usageError{fmt.Errorf("--public-url %q must start with https:// (or http:// for local testing)", af.publicURL)}
	}
	if _, _, err := net.SplitHostPort(af.listen); err != nil {
		return usageError{fmt.Errorf("--listen %q: want host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:443", af.listen)}
	}
	ln, err := net.Listen("tcp", af.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", af.listen, err)
	}
	defer ln.Close()
	publicURL := strings.TrimRight(af.publicURL, "/")
	if publicURL == "" {
		publicURL = "http://" + displayAddr(ln.Addr().String())
	}
	opts, err := storeOptions()
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, rf.dbPath(), opts)
	if err != nil {
		return err
	}
	defer db.Close()
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
	tuneGC()
	log.Info("roster agent started", "version", buildVersion(), "listen", ln.Addr().String(), "data_dir", rf.dataDir)
	a := agent.New(dir, agent.Options{PublicURL: af.publicURL, Logger: log, DomainChecker: af.dns.checker()})
	err = a.Serve(ctx, ln)
	log.Info("roster agent stopped")
	return err
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

  Tenant URL:    %s
  Secret Token:  %s

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

// tuneGC trades a little memory for CPU: the agent allocates per request, and
// at the default GOGC=100 the collector takes ~10% of a lookup's CPU. GOGC=200
// with a 64 MiB soft limit keeps the heap small (the limit makes the collector
// work harder before the heap grows past it). GOGC / GOMEMLIMIT in the
// environment take precedence.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(64 << 20)
	}
}
