// Package sysservice installs, removes and inspects the Roster agent as a
// system service, and runs the agent under the Windows or macOS service
// manager.
//
// On Linux, Install writes a hardened systemd unit that runs the agent as
// the static system account "roster" and moves a foreground setup into the
// service's own directories: the store (a consistent copy, checked with
// SQLite's integrity check), the configuration file with its paths
// rewritten, and certificate files the unit could not see, each owned and
// moded so that the service can read it and nobody else can.
// docs/service.md describes the result and why the account is static. On
// other platforms github.com/kardianos/service talks to the Service Control
// Manager or launchd.
package sysservice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Name is the service's name on every platform (roster.service under
// systemd).
const Name = "roster"

// storeFile is the store's file name in a data directory.
const storeFile = "roster.db"

// ForegroundConfig is the name of the configuration file the setup wizard
// writes into a foreground data directory.
const ForegroundConfig = "roster.conf"

// DefaultUser is the static system account the service runs as unless
// Options.User names another; Install creates it when it is missing
// (Linux; elsewhere "" is the service manager's default account).
//
// Why not DynamicUser=yes: systemd gives a dynamic account a UID only when
// the unit starts, may give it another one at the next start, and chowns
// only StateDirectory= to it, never ConfigurationDirectory=
// (https://www.freedesktop.org/software/systemd/man/latest/systemd.exec.html#RuntimeDirectory=).
// The configuration and a certificate's private key could then be read by
// the service only if everybody could read them, or through
// LoadCredential=, which copies them once at start and so defeats the
// agent's reload of renewed certificates on SIGHUP. With a static account,
// /etc/roster and the key are root:roster 0750/0640, the store is
// roster:roster 0600, and reloads keep working. docs/service.md says more.
const DefaultUser = "roster"

// ErrNotInstalled reports a service that is not installed.
var ErrNotInstalled = errors.New("not installed")

// OptionError reports options that cannot work, such as a relative binary
// path or an unknown account; the command line reports it as a usage error.
type OptionError struct{ Err error }

func (e *OptionError) Error() string { return e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

func optionErrorf(format string, args ...any) error {
	return &OptionError{fmt.Errorf(format, args...)}
}

// Options says what Install installs.
type Options struct {
	// Binary is the absolute path of the roster binary the service runs;
	// "" is the running executable.
	Binary string
	// User is the account the service runs as; "" is DefaultUser, created
	// if it does not exist (Linux). Another name must exist already.
	User string
	// DataDir is the data directory of a foreground setup whose store,
	// certificates and configuration move into the service; "" moves
	// nothing (the service keeps what it has, or starts empty).
	DataDir string
	// Config is the configuration file to install; "" is DataDir's
	// roster.conf when there is one, else the service's existing file.
	Config string
	// Replace lets Install replace a store the service already has (it is
	// kept beside, renamed); without it Install refuses.
	Replace bool
	// NoStart installs without enabling or starting the service.
	NoStart bool
}

// Paths are where the service's files live. Tests point them into a
// temporary directory.
type Paths struct {
	// UnitDir holds the unit file (/etc/systemd/system).
	UnitDir string
	// ConfigDir is the unit's ConfigurationDirectory= (/etc/roster), the
	// agent's $CONFIGURATION_DIRECTORY.
	ConfigDir string
	// StateDir is the unit's StateDirectory= (/var/lib/roster), the
	// agent's $STATE_DIRECTORY and data directory.
	StateDir string
}

// Under returns the same paths below root, for an installation into a
// chroot or a test's temporary directory.
func (p Paths) Under(root string) Paths {
	under := func(dir string) string {
		if dir == "" {
			return ""
		}
		return filepath.Join(root, dir)
	}
	return Paths{UnitDir: under(p.UnitDir), ConfigDir: under(p.ConfigDir), StateDir: under(p.StateDir)}
}

// Process is another process that held the foreground store open.
type Process struct {
	PID     int
	Command string
}

// Result reports what Install did.
type Result struct {
	// Service is the service's name.
	Service string
	// Unit is the path of the systemd unit (Linux).
	Unit string
	// StateDir and ConfigFile are where the service's store and
	// configuration now live.
	StateDir, ConfigFile string
	// MovedFrom is the foreground data directory whose store was copied,
	// and MovedAside what its store was renamed to, so that it is not run
	// again by mistake ("" when nothing moved).
	MovedFrom, MovedAside string
	// Copied lists the other files copied into the service's directories,
	// as "source -> destination".
	Copied []string
	// Stopped lists the foreground agents stopped because they held the
	// store.
	Stopped []Process
	// Listen is the address the service listens on (from its config).
	Listen string
	// Started reports whether the service was (re)started.
	Started bool
}

// Runner runs an external command (systemctl, useradd), sending its output
// to out and errOut.
type Runner func(ctx context.Context, out, errOut io.Writer, name string, args ...string) error

// ExecRunner runs the command with os/exec.
func ExecRunner(ctx context.Context, out, errOut io.Writer, name string, args ...string) error {
	c := exec.CommandContext(ctx, name, args...)
	c.Stdout, c.Stderr = out, errOut
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// Binary returns the absolute, symlink-free path of the binary the service
// runs: path, or the running executable (as executable, os.Executable,
// returns it) when path is "".
func Binary(path string, executable func() (string, error)) (string, error) {
	p := path
	if p == "" {
		exe, err := executable()
		if err != nil {
			return "", fmt.Errorf("find this binary's path: %w; pass --binary /usr/local/bin/roster", err)
		}
		p = exe
	}
	if !filepath.IsAbs(p) {
		return "", optionErrorf("--binary %q: give an absolute path, e.g. /usr/local/bin/roster", p)
	}
	if resolved, err := filepath.EvalSymlinks(p); err == nil {
		p = resolved
	}
	return filepath.Clean(p), nil
}

// FindDataDir returns the first of dirs that holds a Roster store, or "".
func FindDataDir(dirs ...string) string {
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Join(d, storeFile)); err == nil && fi.Mode().IsRegular() {
			return d
		}
	}
	return ""
}
