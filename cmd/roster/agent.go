package main

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/assets"
)

// agentFlags are the flags of `roster agent` read other than by name (see
// agentSettings).
type agentFlags struct {
	dns    dnsFlags
	config string
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
				cfg, err := agentConfig(cmd.Flags(), rf)
				if err != nil {
					return err
				}
				return runAgent(ctx, cfg, agent.RunOptions{
					LogOutput: cmd.ErrOrStderr(), Stdout: cmd.OutOrStdout(), ConfigFile: af.config,
					Reload: func() (config.Config, error) { return agentConfig(cmd.Flags(), rf) },
				})
			}
			// Started by the Windows or macOS service manager: answer it.
			if managed, err := runAsService(run); managed {
				return err
			}
			return run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&af.config, "config", config.DefaultFile(os.Getenv), "configuration file (JSON; see 'roster config example') (env ROSTER_CONFIG; under systemd $CONFIGURATION_DIRECTORY/config.json)")
	f.String("listen", "127.0.0.1:8080", "address to serve SCIM on (host:port) (config listen)")
	f.String("public-url", "", "base URL Entra uses to reach this agent, e.g. https://roster.example.com (default: <scheme>://<listen address>) (config public_url)")
	f.String("log-level", "info", "log level: debug, info, warn, error (config log.level)")
	f.String("log-format", "text", "log format: text or json (config log.format)")
	f.String("tls-mode", "", "acme (automatic certificate), files (your own certificate) or off (plain HTTP behind a proxy) (config tls.mode);\nunset: plain HTTP, allowed only on a loopback --listen")
	f.String("tls-cert-file", "", "PEM certificate chain for --tls-mode files (config tls.cert_file)")
	f.String("tls-key-file", "", "PEM private key for --tls-mode files (config tls.key_file)")
	f.String("acme-email", "", "contact address for the ACME CA's expiry notices (config tls.acme.email)")
	f.String("acme-directory-url", config.LetsEncryptProduction, "ACME directory URL of the CA (config tls.acme.directory_url)")
	f.String("acme-ca-root", "", "PEM file of extra roots to trust for a private ACME CA (config tls.acme.ca_root)")
	f.Int("event-retention-days", config.Default().EventRetentionDays, "days provisioning events are kept before they are pruned (config event_retention_days)")
	f.String("database", "", `postgres:// URL of a PostgreSQL database to keep the directory in, which several agents may share; "" keeps it in SQLite, roster.db in the data directory (config database.url)`)
	f.String("metrics-listen", config.Default().MetricsListen, `address of the Prometheus /metrics listener; "" disables it (config metrics_listen)`)
	af.dns.register(cmd)
	return cmd
}

// loadConfig returns the defaults overlaid with the file at path (if not
// "") and then the ROSTER_* environment (config.LoadEnv). It does not validate.
func loadConfig(path string) (config.Config, error) {
	cfg, err := config.LoadEnv(path, os.LookupEnv)
	if err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

// agentConfig resolves the agent's configuration from the parsed flags of
// `roster agent`: defaults, the file (--config or ROSTER_CONFIG), the
// environment, then the flags given on the command line; and validates it.
func agentConfig(flags *pflag.FlagSet, rf *rootFlags) (config.Config, error) {
	path, _ := flags.GetString("config")
	given := map[string]string{}
	for _, name := range config.OverrideNames() {
		if flags.Changed(name) {
			given[name], _ = flags.GetString(name)
		}
	}
	if flags.Changed("event-retention-days") {
		days, _ := flags.GetInt("event-retention-days")
		given[config.RetentionOverride] = strconv.Itoa(days)
	}
	return resolveAgentConfig(path, given, rf.dataDir)
}

// resolveAgentConfig resolves and validates the agent's configuration
// (config.Resolve); its problems are usage errors.
func resolveAgentConfig(path string, flags map[string]string, dataDir string) (config.Config, error) {
	cfg, err := config.Resolve(path, flags, dataDir, os.LookupEnv)
	if err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

// runAgent runs the agent on cfg with the store's tuning from the
// environment and this binary's version; errors the configuration caused
// are usage errors (exit code 2).
func runAgent(ctx context.Context, cfg config.Config, o agent.RunOptions) error {
	var err error
	if o.Store, err = storeOptions(); err != nil {
		return err
	}
	o.Version = buildVersion()
	err = agent.Run(ctx, cfg, o)
	if ce := (*agent.ConfigError)(nil); errors.As(err, &ce) {
		return usageError{err}
	}
	return err
}

// lastPublicURL returns the base URL the agent last ran with, or the
// default listen address's when it never ran (or the setting cannot be read).
func lastPublicURL(ctx context.Context, dir *directory.Service) string {
	v, err := dir.PublicURL(ctx)
	if err != nil || v == "" {
		return "http://" + config.Default().Listen
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
