package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/assets"
)

// serviceName is the name of the service on every platform (roster.service
// under systemd).
const serviceName = "roster"

// serviceOptions are the flags of `roster service`.
type serviceOptions struct {
	binary  string // the roster binary the service runs ("" = this one)
	config  string // --config passed to the agent ("" passes none)
	user    string // a dedicated account; "" = systemd DynamicUser / the platform default
	unitDir string // where the systemd unit goes
	print   bool   // print what would be installed, change nothing
	noStart bool   // install without starting
}

func newServiceCmd(rf *rootFlags) *cobra.Command {
	o := &serviceOptions{}
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Install, remove or inspect the agent as a system service (systemd, Windows, macOS)",
		Long: `Run the agent as a system service that starts at boot and restarts on failure.

On Linux, 'install' writes a hardened systemd unit (/etc/systemd/system/roster.service:
Type=notify, a dynamic or dedicated user, state in /var/lib/roster, read-only
system, only CAP_NET_BIND_SERVICE), reloads systemd and starts it; 'systemctl
reload roster' rereads the configuration. On Windows and macOS the service goes
to the Service Control Manager or launchd.`,
		Example: `  sudo roster service install --print        # show the unit, change nothing
  sudo roster service install                # write, enable and start it
  sudo roster service install --user roster  # run as an existing system user
  roster service status
  sudo roster service uninstall              # stop and remove it (data is kept)`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&o.unitDir, "unit-dir", systemUnitDir, "directory for the systemd unit (Linux)")

	install := &cobra.Command{
		Use:   "install",
		Short: "Install the agent as a service, enable it at boot and start it",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return installService(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), o)
		},
	}
	f := install.Flags()
	f.StringVar(&o.binary, "binary", "", "absolute path of the roster binary the service runs (default: this binary)")
	f.StringVar(&o.config, "config", defaultServiceConfig(), `configuration file the agent reads ("" runs on defaults)`)
	f.StringVar(&o.user, "user", "", "existing account to run as (default: a systemd dynamic user on Linux, the platform default elsewhere)")
	f.BoolVar(&o.print, "print", false, "print what would be installed and change nothing")
	f.BoolVar(&o.print, "dry-run", false, "same as --print")
	f.BoolVar(&o.noStart, "no-start", false, "install (and reload systemd) but do not enable or start the service")

	uninstall := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop the service, disable it and remove it (the data directory is kept)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return uninstallService(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), o)
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show whether the service is installed and running",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return serviceStatus(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), o)
		},
	}
	cmd.AddCommand(install, uninstall, status)
	return cmd
}

// serviceBinary returns the absolute path of the binary the service runs.
func serviceBinary(flag string) (string, error) {
	p := flag
	if p == "" {
		exe, err := osExecutable()
		if err != nil {
			return "", fmt.Errorf("find this binary's path: %w; pass --binary /usr/local/bin/roster", err)
		}
		p = exe
	}
	if !filepath.IsAbs(p) {
		return "", usageError{fmt.Errorf("--binary %q: give an absolute path, e.g. /usr/local/bin/roster", p)}
	}
	if resolved, err := filepath.EvalSymlinks(p); err == nil {
		p = resolved
	}
	return filepath.Clean(p), nil
}

// agentArgs are the arguments the service starts the binary with.
func agentArgs(config string, extra ...string) []string {
	args := []string{"agent"}
	if config != "" {
		args = append(args, "--config", config)
	}
	return append(args, extra...)
}

// unitData fills the systemd unit template.
type unitData struct {
	ExecStart string
	User      string // "" = DynamicUser=yes
	Group     string
}

var unitTemplate = template.Must(template.New("roster.service").Parse(assets.SystemdUnit))

// renderUnit renders the systemd unit that runs binary with args.
func renderUnit(binary string, args []string, user string) (string, error) {
	words := make([]string, 0, len(args)+1)
	for _, w := range append([]string{binary}, args...) {
		words = append(words, systemdQuote(w))
	}
	if strings.ContainsAny(user, " \t\n\"'\\$%") {
		return "", usageError{fmt.Errorf("--user %q: not a valid account name", user)}
	}
	var b bytes.Buffer
	if err := unitTemplate.Execute(&b, unitData{ExecStart: strings.Join(words, " "), User: user, Group: user}); err != nil {
		return "", fmt.Errorf("render the systemd unit: %w", err)
	}
	return b.String(), nil
}

// systemdQuote makes one word of an ExecStart= command line: '%' and '$'
// are doubled (specifiers and variables would expand), and words with
// spaces, quotes or backslashes are double-quoted with C-style escapes
// (systemd.service(5), "Command lines").
func systemdQuote(w string) string {
	w = strings.ReplaceAll(w, "%", "%%")
	w = strings.ReplaceAll(w, "$", "$$")
	if w != "" && !strings.ContainsAny(w, " \t\n\"'\\;") {
		return w
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(w) + `"`
}

// installAgentService installs the agent as a system service that reads
// the configuration file config, enables it at boot and starts it, as
// `roster service install --config config` does; the setup wizard calls
// it. It returns the service's name. The service keeps its data in the
// platform's service data directory (/var/lib/roster under systemd), not
// in rf's data directory.
func installAgentService(ctx context.Context, rf *rootFlags, config string) (string, error) {
	_ = rf
	var out bytes.Buffer
	o := &serviceOptions{config: config, unitDir: systemUnitDir}
	if err := installService(ctx, &out, &out, o); err != nil {
		return "", err
	}
	return serviceName, nil
}

// errNotInstalled reports a service that is not installed.
var errNotInstalled = errors.New("not installed")

// osExecutable is os.Executable; tests replace it.
var osExecutable = os.Executable
