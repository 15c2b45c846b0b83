//go:build !linux

package main

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

// systemUnitDir is unused outside Linux (the --unit-dir flag is ignored).
const systemUnitDir = ""

// serviceHome is where the service keeps its configuration and data:
// %ProgramData%\Roster on Windows, /Library/Application Support/Roster on
// macOS (docs/architecture.md#running-as-a-service).
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

func defaultServiceConfig() string { return filepath.Join(serviceHome(), "config.json") }

// serviceConfig describes the service to kardianos/service.
func serviceConfig(o *serviceOptions) (*service.Config, error) {
	exe, err := serviceBinary(o.binary)
	if err != nil {
		return nil, err
	}
	return &service.Config{
		Name:        serviceName,
		DisplayName: "Roster SCIM agent",
		Description: "SCIM 2.0 service provider that Microsoft Entra provisions users and groups into.",
		UserName:    o.user,
		Executable:  exe,
		Arguments:   agentArgs(o.config, "--data-dir", filepath.Join(serviceHome(), "data")),
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

func newService(o *serviceOptions) (service.Service, *service.Config, error) {
	cfg, err := serviceConfig(o)
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

func installService(ctx context.Context, out, errOut io.Writer, o *serviceOptions) error {
	s, cfg, err := newService(o)
	if err != nil {
		return err
	}
	if o.print {
		fmt.Fprintf(out, "service %s (%s)\n  runs:    %s %s\n  account: %s\n  manager: %s\n",
			cfg.Name, cfg.DisplayName, cfg.Executable, strings.Join(cfg.Arguments, " "), orDefault(cfg.UserName), s.Platform())
		return nil
	}
	if o.config != "" {
		if _, err := os.Stat(o.config); err != nil && !o.noStart {
			return fmt.Errorf("there is no configuration file at %s: write one first ('roster config example' prints one), or pass --config \"\" to run on the defaults", o.config)
		}
	}
	if err := os.MkdirAll(filepath.Join(serviceHome(), "data"), 0o700); err != nil {
		return fmt.Errorf("create the data directory: %w; %s", err, adminHint())
	}
	if err := s.Install(); err != nil {
		return fmt.Errorf("install the service: %w; %s", err, adminHint())
	}
	fmt.Fprintf(out, "installed %s (%s)\n", cfg.Name, s.Platform())
	if o.noStart {
		return nil
	}
	if err := s.Start(); err != nil {
		return fmt.Errorf("start the service: %w", err)
	}
	fmt.Fprintln(out, "started", cfg.Name)
	return nil
}

func orDefault(user string) string {
	if user == "" {
		return "the platform default"
	}
	return user
}

func uninstallService(ctx context.Context, out, errOut io.Writer, o *serviceOptions) error {
	s, cfg, err := newService(o)
	if err != nil {
		return err
	}
	if _, err := s.Status(); errors.Is(err, service.ErrNotInstalled) {
		fmt.Fprintf(out, "%s is not installed; nothing to do\n", cfg.Name)
		return nil
	}
	s.Stop() //nolint:errcheck // it may not be running
	if err := s.Uninstall(); err != nil {
		return fmt.Errorf("remove the service: %w; %s", err, adminHint())
	}
	fmt.Fprintf(out, "removed %s; the data is kept in %s\n", cfg.Name, serviceHome())
	return nil
}

func serviceStatus(ctx context.Context, out, errOut io.Writer, o *serviceOptions) error {
	s, cfg, err := newService(o)
	if err != nil {
		return err
	}
	st, err := s.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		fmt.Fprintf(out, "%s: %s; install it with: roster service install\n", cfg.Name, errNotInstalled)
		return nil
	case err != nil:
		return fmt.Errorf("ask the service manager: %w", err)
	}
	state := map[service.Status]string{service.StatusRunning: "running", service.StatusStopped: "stopped"}[st]
	if state == "" {
		state = "unknown"
	}
	fmt.Fprintf(out, "%s: installed, %s (%s)\n", cfg.Name, state, s.Platform())
	return nil
}

// serviceProgram runs the agent under the service manager.
type serviceProgram struct {
	run    func(context.Context) error
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func (p *serviceProgram) Start(service.Service) error {
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

func (p *serviceProgram) Stop(service.Service) error {
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

// runAsService runs run under the service manager when it started this
// process (the Windows Service Control Manager must be answered, or it
// kills the process); it reports false for an interactive run, which the
// caller then runs itself.
func runAsService(run func(context.Context) error) (bool, error) {
	if service.Interactive() {
		return false, nil
	}
	p := &serviceProgram{run: run}
	s, err := service.New(p, &service.Config{Name: serviceName})
	if err != nil {
		return true, fmt.Errorf("run as a service: %w", err)
	}
	return true, s.Run()
}

// serviceDataDir is where the installed service keeps its data.
func serviceDataDir() string { return serviceHome() }
