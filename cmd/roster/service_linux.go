//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
)

// systemUnitDir is where administrators' systemd units live.
const systemUnitDir = "/etc/systemd/system"

const unitName = serviceName + ".service"

func defaultServiceConfig() string { return "/etc/roster/config.json" }

// Hooks replaced by tests: whoever runs systemctl, and the effective uid.
var (
	systemctl = runSystemctl
	geteuid   = os.Geteuid
)

func runSystemctl(ctx context.Context, out, errOut io.Writer, args ...string) error {
	c := exec.CommandContext(ctx, "systemctl", args...)
	c.Stdout, c.Stderr = out, errOut
	if err := c.Run(); err != nil {
		return fmt.Errorf("systemctl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// hiddenFromService returns the directory that hides path from the
// hardened unit (ProtectHome=yes, PrivateTmp=yes), or "".
func hiddenFromService(path string) string {
	for _, dir := range []string{"/home", "/root", "/run/user", "/tmp", "/var/tmp"} {
		if path == dir || strings.HasPrefix(path, dir+"/") {
			return dir
		}
	}
	return ""
}

// needRoot refuses to change the system's units without root.
func needRoot(o *serviceOptions, what string) error {
	if filepath.Clean(o.unitDir) == systemUnitDir && geteuid() != 0 {
		return fmt.Errorf("must run as root to %s %s: re-run with sudo", what, filepath.Join(systemUnitDir, unitName))
	}
	return nil
}

func installService(ctx context.Context, out, errOut io.Writer, o *serviceOptions) error {
	exe, err := serviceBinary(o.binary)
	if err != nil {
		return err
	}
	unit, err := renderUnit(exe, agentArgs(o.config), o.user)
	if err != nil {
		return err
	}
	if o.print {
		fmt.Fprint(out, unit)
		return nil
	}
	if err := needRoot(o, "install"); err != nil {
		return err
	}
	system := filepath.Clean(o.unitDir) == systemUnitDir
	if system {
		if _, err := os.Stat("/run/systemd/system"); err != nil {
			return errors.New("systemd is not running on this host (no /run/systemd/system): print the unit with --print and adapt it, or run 'roster agent' under your init system")
		}
		if dir := hiddenFromService(exe); dir != "" {
			return fmt.Errorf("%s is under %s, which the service cannot see (ProtectHome=yes, PrivateTmp=yes): "+
				"copy it first (sudo install -m 0755 %s /usr/local/bin/roster), then run 'sudo /usr/local/bin/roster service install'", exe, dir, exe)
		}
	}
	if fi, err := os.Stat(exe); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file; pass --binary with the path of the roster binary", exe)
	}
	if o.user != "" {
		if _, err := user.Lookup(o.user); err != nil {
			return fmt.Errorf("user %q does not exist: create it (sudo useradd --system --no-create-home --shell /usr/sbin/nologin %s), or omit --user to run as a systemd dynamic user", o.user, o.user)
		}
	}
	if err := checkServiceConfig(o, errOut); err != nil {
		return err
	}

	if err := os.MkdirAll(o.unitDir, 0o755); err != nil {
		return fmt.Errorf("create the unit directory: %w", err)
	}
	path := filepath.Join(o.unitDir, unitName)
	if err := writeFileAtomic(path, []byte(unit), 0o644); err != nil {
		return fmt.Errorf("write the systemd unit: %w", err)
	}
	fmt.Fprintln(out, "wrote", path)
	if err := systemctl(ctx, out, errOut, "daemon-reload"); err != nil {
		return err
	}
	if o.noStart {
		fmt.Fprintln(out, "not started (--no-start); start it and enable it at boot with: sudo systemctl enable --now", unitName)
		return nil
	}
	if err := systemctl(ctx, out, errOut, "enable", "--now", unitName); err != nil {
		return fmt.Errorf("%w\nsee why with: journalctl -u %s -n 50", err, serviceName)
	}
	fmt.Fprintf(out, "started %s and enabled it at boot\n  status:  roster service status\n  logs:    journalctl -u %s -f\n  reload:  sudo systemctl reload %s (rereads %s)\n",
		unitName, serviceName, serviceName, orNone(o.config))
	return nil
}

func orNone(config string) string {
	if config == "" {
		return "the configuration"
	}
	return config
}

// checkServiceConfig makes sure the agent will be able to read its
// configuration file: a missing or unreadable file is an error when the
// service is about to start, a warning otherwise.
func checkServiceConfig(o *serviceOptions, errOut io.Writer) error {
	if o.config == "" {
		return nil
	}
	var problem string
	fi, err := os.Stat(o.config)
	switch {
	case errors.Is(err, os.ErrNotExist):
		problem = fmt.Sprintf("there is no configuration file at %s: write one first (roster config example | sudo tee %s, then set listen, public_url and tls), or pass --config \"\" to run on the defaults", o.config, o.config)
	case err != nil:
		problem = fmt.Sprintf("cannot read the configuration file: %v", err)
	case o.user == "" && fi.Mode().Perm()&0o004 == 0:
		problem = fmt.Sprintf("the service runs as a dynamic user, which cannot read %s (mode %04o): make it readable (sudo chmod 0644 %s) or install with --user and give that user access", o.config, fi.Mode().Perm(), o.config)
	}
	if problem == "" {
		return nil
	}
	if o.noStart {
		fmt.Fprintln(errOut, "warning:", problem)
		return nil
	}
	return errors.New(problem)
}

// writeFileAtomic writes path through a temporary file and a rename, so a
// crash never leaves half a unit.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func uninstallService(ctx context.Context, out, errOut io.Writer, o *serviceOptions) error {
	if err := needRoot(o, "remove"); err != nil {
		return err
	}
	path := filepath.Join(o.unitDir, unitName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(out, "%s is not installed (no %s); nothing to do\n", unitName, path)
		return nil
	}
	if err := systemctl(ctx, out, errOut, "disable", "--now", unitName); err != nil {
		return fmt.Errorf("%w\nthe unit file is kept; fix the problem and run uninstall again", err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove the unit: %w", err)
	}
	fmt.Fprintln(out, "removed", path)
	if err := systemctl(ctx, out, errOut, "daemon-reload"); err != nil {
		return err
	}
	fmt.Fprintln(out, "the data is kept in /var/lib/roster (users, groups, tokens); delete it yourself if you no longer need it")
	return nil
}

func serviceStatus(ctx context.Context, out, errOut io.Writer, o *serviceOptions) error {
	path := filepath.Join(o.unitDir, unitName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(out, "%s: %s (no %s); install it with: sudo roster service install\n", unitName, errNotInstalled, path)
		return nil
	}
	fmt.Fprintf(out, "%s: installed (%s)\n", unitName, path)
	err := systemctl(ctx, out, errOut, "status", "--no-pager", "--lines=10", unitName)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 { // installed but not running
		return nil
	}
	return err
}

// runAsService reports false: under systemd the agent runs as a plain
// process (sd_notify does the rest).
func runAsService(func(context.Context) error) (bool, error) { return false, nil }

// serviceDataDir is where the installed service keeps its data
// (StateDirectory=roster).
func serviceDataDir() string { return "/var/lib/roster" }
