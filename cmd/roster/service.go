package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent/sysservice"
)

// newInstaller returns the host's service installer; tests point its paths
// into a temporary directory and replace its command runner.
var newInstaller = sysservice.System

// serviceOptions are the flags of `roster service`.
type serviceOptions struct {
	sysservice.Options
	unitDir string // where the systemd unit goes
	print   bool   // print what would be installed, change nothing
}

func newServiceCmd(rf *rootFlags) *cobra.Command {
	o := &serviceOptions{}
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Install, remove or inspect the agent as a system service (systemd, Windows, macOS)",
		Long: `Run the agent as a system service that starts at boot and restarts on failure.

On Linux, 'install' writes a hardened systemd unit (/etc/systemd/system/roster.service:
Type=notify, the system account "roster", read-only system, only
CAP_NET_BIND_SERVICE), reloads systemd and starts it. After a foreground setup
it moves that setup into the service in the same step: it stops the foreground
agent, copies the store (tenants, tokens, users, the Entra connection) into
/var/lib/roster and the configuration into /etc/roster/config.json, with
certificate files the service could not see, readable by the service alone.
'systemctl reload roster' rereads the configuration. See docs/service.md.
On Windows and macOS the service goes to the Service Control Manager or launchd.`,
		Example: `  sudo roster service install --print        # show the unit, change nothing
  sudo roster service install                # move this setup into a service and start it
  sudo roster service install --data-dir /home/ann/.local/state/roster
  roster service status
  sudo roster service uninstall              # stop and remove it (data is kept)`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&o.unitDir, "unit-dir", sysservice.SystemPaths().UnitDir, "directory for the systemd unit (Linux)")

	install := &cobra.Command{
		Use:   "install",
		Short: "Install the agent as a service, moving a foreground setup into it, and start it",
		Long: `Install the agent as a service, enable it at boot and start it.

The foreground setup to move is the one in --data-dir when given, else the
default data directory's, else (under sudo) the invoking user's
~/.local/state/roster. Its agent is stopped, its store copied into the
service's state directory and renamed aside (roster.db.moved-TIME), and its
roster.conf (or --config) installed as the service's configuration. Without a
foreground setup the service keeps the store and configuration it has.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if c.Flags().Changed("data-dir") || os.Getenv("ROSTER_DATA_DIR") != "" {
				o.DataDir = rf.dataDir
			} else {
				o.DataDir = sysservice.FindDataDir(rf.dataDir, sysservice.SudoUserDataDir())
			}
			return installService(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), o)
		},
	}
	f := install.Flags()
	f.StringVar(&o.Binary, "binary", "", "absolute path of the roster binary the service runs (default: this binary)")
	f.StringVar(&o.Config, "config", "", "configuration file to install (default: the foreground setup's roster.conf, else the service's own)")
	f.StringVar(&o.User, "user", "", `existing account to run as (default on Linux: the system account "`+sysservice.DefaultUser+`", created if missing; elsewhere the platform's default)`)
	f.BoolVar(&o.Replace, "replace", false, "replace a store the service already has with the foreground setup's (the old one is kept, renamed)")
	f.BoolVar(&o.print, "print", false, "print what would be installed and change nothing")
	f.BoolVar(&o.print, "dry-run", false, "same as --print")
	f.BoolVar(&o.NoStart, "no-start", false, "install (and reload systemd) but do not enable or start the service")

	uninstall := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop the service, disable it and remove it (the data directory is kept)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageOr(o.installer(c.OutOrStdout(), c.ErrOrStderr()).Uninstall(c.Context()))
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show whether the service is installed and running",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageOr(o.installer(c.OutOrStdout(), c.ErrOrStderr()).Status(c.Context()))
		},
	}
	cmd.AddCommand(install, uninstall, status)
	return cmd
}

func (o *serviceOptions) installer(out, errOut io.Writer) *sysservice.Installer {
	in := newInstaller(out, errOut)
	in.Paths.UnitDir = o.unitDir
	return in
}

// usageOr turns the installer's option errors into usage errors (exit 2).
func usageOr(err error) error {
	var oe *sysservice.OptionError
	if errors.As(err, &oe) {
		return usageError{err}
	}
	return err
}

func installService(ctx context.Context, out, errOut io.Writer, o *serviceOptions) error {
	in := o.installer(out, errOut)
	if o.print {
		unit, err := in.Unit(o.Options)
		if err != nil {
			return usageOr(err)
		}
		fmt.Fprint(out, unit)
		return nil
	}
	res, err := in.Install(ctx, o.Options)
	if err != nil {
		return usageOr(err)
	}
	if !res.Started {
		fmt.Fprintf(out, "not started (--no-start); start it and enable it at boot with: sudo systemctl enable --now %s\n", res.Service)
		return nil
	}
	var moved strings.Builder
	if res.MovedFrom != "" {
		fmt.Fprintf(&moved, "  moved:   %s (the old copy is %s; delete it once the service runs well)\n", res.MovedFrom, res.MovedAside)
	}
	fmt.Fprintf(out, "started %s and enabled it at boot\n%s  data:    %s\n  config:  %s\n  status:  roster service status\n  logs:    journalctl -u %s -f\n  reload:  sudo systemctl reload %s\n",
		res.Service, moved.String(), res.StateDir, res.ConfigFile, res.Service, res.Service)
	return nil
}

// runAsService runs the agent under the Windows or macOS service manager
// when that started this process (see sysservice.RunManaged).
func runAsService(run func(context.Context) error) (bool, error) { return sysservice.RunManaged(run) }
