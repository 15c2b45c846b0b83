package sysservice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/rosterhq/roster/assets"
)

// UnitName is the systemd unit's file name.
const UnitName = Name + ".service"

// SystemPaths are the paths of the real system.
func SystemPaths() Paths {
	return Paths{UnitDir: "/etc/systemd/system", ConfigDir: "/etc/roster", StateDir: "/var/lib/roster"}
}

// Installer installs, removes and inspects the service on one host. Its
// fields are the host's parts that tests replace.
type Installer struct {
	// Paths are where the unit, configuration and store go.
	Paths Paths
	// Run runs systemctl and useradd.
	Run Runner
	// Out receives one line per step; ErrOut the commands' errors.
	Out, ErrOut io.Writer
	// Hidden are the directories the unit hides from the service
	// (ProtectHome=yes, PrivateTmp=yes): files under them are copied.
	Hidden []string
	// Proc is the proc file system, searched for processes holding the
	// foreground store.
	Proc string
	// Euid returns the effective user id.
	Euid func() int
	// LookupUser finds an account by name.
	LookupUser func(name string) (*user.User, error)
	// StopTimeout bounds the wait for a foreground agent to stop.
	StopTimeout time.Duration
	// Executable returns the running binary's path, which the service
	// runs unless Options.Binary names another.
	Executable func() (string, error)
}

// System returns the Installer of this host, writing progress to out.
func System(out, errOut io.Writer) *Installer {
	return &Installer{
		Paths:       SystemPaths(),
		Run:         ExecRunner,
		Out:         out,
		ErrOut:      errOut,
		Hidden:      []string{"/home", "/root", "/run/user", "/tmp", "/var/tmp"},
		Proc:        "/proc",
		Euid:        os.Geteuid,
		LookupUser:  user.Lookup,
		StopTimeout: 45 * time.Second,
		Executable:  os.Executable,
	}
}

// SudoUserDataDir returns the default data directory of the user who ran
// sudo ($SUDO_USER), where `roster setup` or `roster agent` kept a
// foreground setup, or "" without sudo.
func SudoUserDataDir() string {
	name := os.Getenv("SUDO_USER")
	if name == "" || name == "root" {
		return ""
	}
	u, err := user.Lookup(name)
	if err != nil || u.HomeDir == "" {
		return ""
	}
	return filepath.Join(u.HomeDir, ".local", "state", "roster")
}

// system reports whether the Installer changes the real system's units.
func (in *Installer) system() bool {
	return filepath.Clean(in.Paths.UnitDir) == SystemPaths().UnitDir
}

func (in *Installer) unitPath() string { return filepath.Join(in.Paths.UnitDir, UnitName) }

func (in *Installer) say(format string, args ...any) {
	if in.Out != nil {
		fmt.Fprintf(in.Out, format+"\n", args...)
	}
}

func (in *Installer) systemctl(ctx context.Context, args ...string) error {
	return in.Run(ctx, in.Out, in.ErrOut, "systemctl", args...)
}

// hidden returns the directory that hides path from the unit, or "".
func (in *Installer) hidden(path string) string {
	for _, dir := range in.Hidden {
		if path == dir || strings.HasPrefix(path, dir+"/") {
			return dir
		}
	}
	return ""
}

// needRoot refuses to change the system's units without root.
func (in *Installer) needRoot(what string) error {
	if in.system() && in.Euid() != 0 {
		return fmt.Errorf("must run as root to %s %s: re-run with sudo", what, in.unitPath())
	}
	return nil
}

// unitData fills the systemd unit template.
type unitData struct {
	ExecStart string
	User      string
	Group     string
}

var unitTemplate = template.Must(template.New(UnitName).Parse(assets.SystemdUnit))

// agentArgs are the arguments the unit starts the binary with: the agent
// finds its configuration in $CONFIGURATION_DIRECTORY and its data in
// $STATE_DIRECTORY, which systemd sets.
func agentArgs() []string { return []string{"agent"} }

// accountName is the account the service runs as.
func accountName(o Options) string {
	if o.User != "" {
		return o.User
	}
	return DefaultUser
}

// renderUnit renders the systemd unit that runs binary with args as user.
func renderUnit(binary string, args []string, user string) (string, error) {
	words := make([]string, 0, len(args)+1)
	for _, w := range append([]string{binary}, args...) {
		words = append(words, systemdQuote(w))
	}
	if user == "" || strings.ContainsAny(user, " \t\n\"'\\$%:/") {
		return "", optionErrorf("--user %q: not a valid account name", user)
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

// Unit returns the unit Install would write for o, changing nothing.
func (in *Installer) Unit(o Options) (string, error) {
	exe, err := Binary(o.Binary, in.Executable)
	if err != nil {
		return "", err
	}
	return renderUnit(exe, agentArgs(), accountName(o))
}

// Check runs every check Install would run for o and changes nothing, so
// that a caller (the wizard) can refuse early what Install would refuse.
func (in *Installer) Check(o Options) error {
	_, err := in.plan(o)
	return err
}

// Install installs the agent as a systemd service, moving a foreground
// setup into it, enables it at boot and starts it. Every check runs before
// anything changes; see docs/service.md for the steps.
func (in *Installer) Install(ctx context.Context, o Options) (Result, error) {
	res := Result{Service: Name, Unit: in.unitPath(), StateDir: in.Paths.StateDir,
		ConfigFile: filepath.Join(in.Paths.ConfigDir, configFileName)}
	p, err := in.plan(o)
	if err != nil {
		return res, err
	}
	res.Listen = p.cfg.Listen
	acct, err := in.ensureAccount(ctx, p)
	if err != nil {
		return res, err
	}
	if _, err := os.Stat(in.unitPath()); err == nil {
		// An earlier install's service must let go of its store first.
		if err := in.systemctl(ctx, "stop", UnitName); err != nil {
			return res, err
		}
	}
	if p.source != "" {
		if res.Stopped, err = in.stopHolders(ctx, filepath.Join(p.source, storeFile)); err != nil {
			return res, err
		}
	}
	if err := in.moveState(ctx, p, acct, &res); err != nil {
		return res, err
	}
	if err := in.writeConfig(p, acct, &res); err != nil {
		return res, err
	}
	if err := os.MkdirAll(in.Paths.UnitDir, 0o755); err != nil {
		return res, fmt.Errorf("create the unit directory: %w", err)
	}
	if err := writeFileAtomic(in.unitPath(), []byte(p.unit), 0o644); err != nil {
		return res, fmt.Errorf("write the systemd unit: %w", err)
	}
	in.say("wrote %s (runs as %s)", in.unitPath(), acct.name)
	if err := in.systemctl(ctx, "daemon-reload"); err != nil {
		return res, err
	}
	if o.NoStart {
		return res, nil
	}
	if err := in.systemctl(ctx, "enable", "--now", UnitName); err != nil {
		return res, fmt.Errorf("%w\nsee why with: journalctl -u %s -n 50", err, Name)
	}
	res.Started = true
	return res, nil
}

// Uninstall stops, disables and removes the service; its data, its
// configuration and its account are kept.
func (in *Installer) Uninstall(ctx context.Context) error {
	if err := in.needRoot("remove"); err != nil {
		return err
	}
	path := in.unitPath()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		in.say("%s is not installed (no %s); nothing to do", UnitName, path)
		return nil
	}
	if err := in.systemctl(ctx, "disable", "--now", UnitName); err != nil {
		return fmt.Errorf("%w\nthe unit file is kept; fix the problem and run uninstall again", err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove the unit: %w", err)
	}
	in.say("removed %s", path)
	if err := in.systemctl(ctx, "daemon-reload"); err != nil {
		return err
	}
	in.say("the data is kept in %s (users, groups, tokens) and the configuration in %s;\n"+
		"delete them and the account (userdel %s) yourself if you no longer need them", in.Paths.StateDir, in.Paths.ConfigDir, DefaultUser)
	return nil
}

// Status prints whether the service is installed and systemd's view of it.
func (in *Installer) Status(ctx context.Context) error {
	path := in.unitPath()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		in.say("%s: %s (no %s); install it with: sudo roster service install", UnitName, ErrNotInstalled, path)
		return nil
	}
	in.say("%s: installed (%s)", UnitName, path)
	err := in.systemctl(ctx, "status", "--no-pager", "--lines=10", UnitName)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 { // installed but not running
		return nil
	}
	return err
}

// RunManaged reports false: under systemd the agent runs as a plain
// process (sd_notify does the rest).
func RunManaged(func(context.Context) error) (bool, error) { return false, nil }

// writeFileAtomic writes path through a temporary file and a rename, so a
// crash never leaves half a file.
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
