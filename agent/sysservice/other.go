//go:build !linux

package sysservice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/kardianos/service"
)

// serviceHome is where the service keeps its configuration and data:
// %ProgramData%\Roster on Windows, /Library/Application Support/Roster on
// macOS.
func serviceHome() string {
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("ProgramData"); d != "" {
			return filepath.Join(d, "Roster")
		}
		return `C:\ProgramData\Roster`
	case "darwin":
		return "/Library/Application Support/Roster"
	}
	return "/var/lib/roster"
}

// SystemPaths are the service's directories on this platform (no unit
// directory: the service manager keeps its own records).
func SystemPaths() Paths {
	return Paths{ConfigDir: serviceHome(), StateDir: filepath.Join(serviceHome(), "data")}
}

// Installer installs, removes and inspects the service through the
// platform's service manager.
type Installer struct {
	// Paths are where the configuration and the data go.
	Paths Paths
	// Out receives one line per step; ErrOut errors.
	Out, ErrOut io.Writer
	// Executable returns the running binary's path, which the service
	// runs unless Options.Binary names another.
	Executable func() (string, error)
}

// System returns the Installer of this host, writing progress to out.
func System(out, errOut io.Writer) *Installer {
	return &Installer{Paths: SystemPaths(), Out: out, ErrOut: errOut, Executable: os.Executable}
}

// SudoUserDataDir returns "": sudo's foreground setups are found on Linux only.
func SudoUserDataDir() string { return "" }

func (in *Installer) configFile() string { return filepath.Join(in.Paths.ConfigDir, "config.json") }

// serviceConfig describes the service to kardianos/service.
func (in *Installer) serviceConfig(o Options) (*service.Config, error) {
	exe, err := Binary(o.Binary, in.Executable)
	if err != nil {
		return nil, err
	}
	return &service.Config{
		Name:        Name,
		DisplayName: "Roster SCIM agent",
		Description: "SCIM 2.0 service provider that Microsoft Entra provisions users and groups into.",
		UserName:    o.User,
		Executable:  exe,
		Arguments:   []string{"agent", "--config", in.configFile(), "--data-dir", in.Paths.StateDir},
		Option: service.KeyValue{
			"OnFailure":              "restart", // Windows
			"OnFailureDelayDuration": "5s",
			"DelayedAutoStart":       true,
			"KeepAlive":              true, // macOS launchd
			"RunAtLoad":              true,
		},
	}, nil
}

// noProgram satisfies service.Interface for install, uninstall and status,
// which never run the service loop.
type noProgram struct{}

func (noProgram) Start(service.Service) error { return nil }
func (noProgram) Stop(service.Service) error  { return nil }

func (in *Installer) newService(o Options) (service.Service, *service.Config, error) {
	cfg, err := in.serviceConfig(o)
	if err != nil {
		return nil, nil, err
	}
	s, err := service.New(noProgram{}, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("this system's service manager is not supported: %w; run 'roster agent' from your own init system", err)
	}
	return s, cfg, nil
}

func adminHint() string {
	if runtime.GOOS == "windows" {
		return "run it from an Administrator prompt"
	}
	return "re-run with sudo"
}

func (in *Installer) say(format string, args ...any) {
	if in.Out != nil {
		fmt.Fprintf(in.Out, format+"\n", args...)
	}
}

// Unit describes what Install would install, changing nothing.
func (in *Installer) Unit(o Options) (string, error) {
	s, cfg, err := in.newService(o)
	if err != nil {
		return "", err
	}
	account := cfg.UserName
	if account == "" {
		account = "the platform default"
	}
	return fmt.Sprintf("service %s (%s)\n  runs:    %s %s\n  account: %s\n  manager: %s\n",
		cfg.Name, cfg.DisplayName, cfg.Executable, strings.Join(cfg.Arguments, " "), account, s.Platform()), nil
}

// Check reports what Install would refuse for o, changing nothing.
func (in *Installer) Check(o Options) error {
	if err := in.refuseMove(o); err != nil {
		return err
	}
	_, _, err := in.newService(o)
	return err
}

func (in *Installer) refuseMove(o Options) error {
	if o.DataDir != "" && FindDataDir(o.DataDir) != "" && filepath.Clean(o.DataDir) != filepath.Clean(in.Paths.StateDir) {
		return optionErrorf("moving a foreground setup into the service is supported on Linux only: stop the agent, copy %s into %s yourself, then install again", o.DataDir, in.Paths.StateDir)
	}
	return nil
}

// Install installs the agent with the platform's service manager and
// starts it. Moving a foreground setup into the service is done on Linux
// only: here Install refuses a data directory that holds a store.
func (in *Installer) Install(ctx context.Context, o Options) (Result, error) {
	res := Result{Service: Name, StateDir: in.Paths.StateDir, ConfigFile: in.configFile()}
	if err := in.refuseMove(o); err != nil {
		return res, err
	}
	s, cfg, err := in.newService(o)
	if err != nil {
		return res, err
	}
	if _, err := os.Stat(in.configFile()); err != nil && !o.NoStart {
		return res, fmt.Errorf("there is no configuration file at %s: write one first ('roster config example' prints one)", in.configFile())
	}
	if err := os.MkdirAll(in.Paths.StateDir, 0o700); err != nil {
		return res, fmt.Errorf("create the data directory: %w; %s", err, adminHint())
	}
	if err := s.Install(); err != nil {
		return res, fmt.Errorf("install the service: %w; %s", err, adminHint())
	}
	in.say("installed %s (%s)", cfg.Name, s.Platform())
	if o.NoStart {
		return res, nil
	}
	if err := s.Start(); err != nil {
		return res, fmt.Errorf("start the service: %w", err)
	}
	res.Started = true
	return res, nil
}

// Uninstall stops and removes the service; its data is kept.
func (in *Installer) Uninstall(ctx context.Context) error {
	s, cfg, err := in.newService(Options{})
	if err != nil {
		return err
	}
	if _, err := s.Status(); errors.Is(err, service.ErrNotInstalled) {
		in.say("%s is not installed; nothing to do", cfg.Name)
		return nil
	}
	s.Stop() //nolint:errcheck // it may not be running
	if err := s.Uninstall(); err != nil {
		return fmt.Errorf("remove the service: %w; %s", err, adminHint())
	}
	in.say("removed %s; the data is kept in %s", cfg.Name, serviceHome())
	return nil
}

// Status prints whether the service is installed and running.
func (in *Installer) Status(ctx context.Context) error {
	s, cfg, err := in.newService(Options{})
	if err != nil {
		return err
	}
	st, err := s.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		in.say("%s: %s; install it with: roster service install", cfg.Name, ErrNotInstalled)
		return nil
	case err != nil:
		return fmt.Errorf("ask the service manager: %w", err)
	}
	state := map[service.Status]string{service.StatusRunning: "running", service.StatusStopped: "stopped"}[st]
	if state == "" {
		state = "unknown"
	}
	in.say("%s: installed, %s (%s)", cfg.Name, state, s.Platform())
	return nil
}

// program runs the agent under the service manager.
type program struct {
	run    func(context.Context) error
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() {
		err := p.run(ctx)
		p.done <- err
		if ctx.Err() == nil { // the agent stopped by itself: let the manager restart it
			fmt.Fprintln(os.Stderr, "roster: the agent stopped:", err)
			os.Exit(1)
		}
	}()
	return nil
}

func (p *program) Stop(service.Service) error {
	var err error
	p.once.Do(func() {
		p.cancel()
		select {
		case err = <-p.done:
		case <-time.After(40 * time.Second):
			err = errors.New("the agent did not stop within 40 seconds")
		}
	})
	return err
}

// RunManaged runs run under the service manager when it started this
// process (the Windows Service Control Manager must be answered, or it
// kills the process); it reports false for an interactive run, which the
// caller then runs itself.
func RunManaged(run func(context.Context) error) (bool, error) {
	if service.Interactive() {
		return false, nil
	}
	p := &program{run: run}
	s, err := service.New(p, &service.Config{Name: Name})
	if err != nil {
		return true, fmt.Errorf("run as a service: %w", err)
	}
	return true, s.Run()
}
