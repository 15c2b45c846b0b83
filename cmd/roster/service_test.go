//go:build linux

package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fakeSystemctl records systemctl calls instead of running them.
type fakeSystemctl struct {
	calls [][]string
	fail  string // a subcommand that fails
}

func (f *fakeSystemctl) install(t *testing.T) {
	t.Helper()
	old := systemctl
	systemctl = func(_ context.Context, out, _ io.Writer, args ...string) error {
		f.calls = append(f.calls, args)
		if len(args) > 0 && args[0] == f.fail {
			return errors.New("systemctl " + strings.Join(args, " ") + ": exit status 1")
		}
		if len(args) > 0 && args[0] == "status" {
			io.WriteString(out, "● roster.service - Roster SCIM 2.0 agent\n     Active: active (running)\n") //nolint:errcheck
		}
		return nil
	}
	t.Cleanup(func() { systemctl = old })
}

// fakeBinary is an executable file standing in for the roster binary.
func fakeBinary(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "roster")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServiceUnitContents(t *testing.T) {
	bin := fakeBinary(t, t.TempDir())
	out, _, err := runCLI(t, t.TempDir(), "service", "install", "--print", "--binary", bin)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Type=notify",
		"ExecStart=" + bin + " agent --config /etc/roster/config.json",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"Restart=on-failure",
		"WatchdogSec=60s",
		"DynamicUser=yes",
		"StateDirectory=roster",
		"ProtectSystem=strict",
		"ProtectHome=yes",
		"PrivateTmp=yes",
		"NoNewPrivileges=yes",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
		"SystemCallFilter=@system-service",
		"WantedBy=multi-user.target",
	}
	lines := strings.Split(out, "\n")
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("unit lacks the line %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "User=") && !strings.Contains(out, "DynamicUser=yes") {
		t.Errorf("unit names a user without --user:\n%s", out)
	}

	out, _, err = runCLI(t, t.TempDir(), "service", "install", "--dry-run", "--binary", bin, "--user", "rosterd", "--config", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"User=rosterd", "Group=rosterd", "ExecStart=" + bin + " agent"} {
		if !slices.Contains(strings.Split(out, "\n"), w) {
			t.Errorf("with --user rosterd --config \"\": unit lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "DynamicUser") {
		t.Errorf("with --user: unit still has DynamicUser:\n%s", out)
	}
}

func TestSystemdQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/usr/local/bin/roster", "/usr/local/bin/roster"},
		{"/opt/My Apps/roster", `"/opt/My Apps/roster"`},
		{"100%", "100%%"},
		{"$HOME", "$$HOME"},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"", `""`},
	}
	for _, tt := range tests {
		if got := systemdQuote(tt.in); got != tt.want {
			t.Errorf("systemdQuote(%q): got %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestServiceUnitVerifies runs systemd-analyze verify on the generated unit
// (dynamic user, dedicated user, a binary path with a space and a percent
// sign), and checks that a unit pointing at a missing binary fails, so the
// check is real. It also reads systemd's own exposure score of the sandbox.
func TestServiceUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd): the generated unit is not verified")
	}
	verify := func(t *testing.T, unit string) (string, error) {
		dir := t.TempDir()
		p := filepath.Join(dir, unitName)
		if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", p).CombinedOutput()
		return string(out), err
	}
	odd := filepath.Join(t.TempDir(), "my tools 100%")
	if err := os.Mkdir(odd, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, bin, user string
	}{
		{"dynamic user", fakeBinary(t, t.TempDir()), ""},
		{"dedicated user", fakeBinary(t, t.TempDir()), "root"},
		{"path with a space and a percent sign", fakeBinary(t, odd), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			unit, err := renderUnit(tt.bin, agentArgs("/etc/roster/config.json"), tt.user)
			if err != nil {
				t.Fatal(err)
			}
			if out, err := verify(t, unit); err != nil || strings.TrimSpace(out) != "" {
				t.Errorf("systemd-analyze verify: %v\n%s\nunit:\n%s", err, out, unit)
			}
		})
	}
	t.Run("missing binary fails", func(t *testing.T) {
		unit, err := renderUnit(filepath.Join(t.TempDir(), "no-such-roster"), agentArgs(""), "")
		if err != nil {
			t.Fatal(err)
		}
		out, err := verify(t, unit)
		if err == nil || !strings.Contains(out, "no-such-roster") {
			t.Errorf("systemd-analyze verify of a unit with a missing binary: got %v %q, want a failure naming it", err, out)
		}
	})
	t.Run("security exposure", func(t *testing.T) {
		unit, err := renderUnit(fakeBinary(t, t.TempDir()), agentArgs(""), "")
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		p := filepath.Join(dir, unitName)
		if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _ := exec.Command(analyze, "security", "--offline=yes", "--no-pager", p).CombinedOutput()
		m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
		if m == nil {
			t.Skipf("systemd-analyze security --offline is not supported here:\n%s", out)
		}
		score, _ := strconv.ParseFloat(string(m[1]), 64)
		t.Logf("systemd-analyze security: exposure %.1f", score)
		if score > 2.5 {
			t.Errorf("exposure level %.1f, want at most 2.5 (the hardened unit scored 1.6)\n%s", score, out)
		}
	})
}

func TestServiceInstallUninstallStatus(t *testing.T) {
	data, unitDir := t.TempDir(), filepath.Join(t.TempDir(), "units")
	bin := fakeBinary(t, t.TempDir())
	config := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(config, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sc := &fakeSystemctl{}
	sc.install(t)
	run := func(args ...string) (string, string, error) {
		return runCLI(t, data, append(append([]string{"service"}, args...), "--unit-dir", unitDir)...)
	}
	unitPath := filepath.Join(unitDir, unitName)

	out, _, err := run("status")
	if err != nil || !strings.Contains(out, "not installed") {
		t.Fatalf("status before install: %v %q, want not installed", err, out)
	}

	printed, _, err := run("install", "--print", "--binary", bin, "--config", config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(unitPath); !errors.Is(err, os.ErrNotExist) || len(sc.calls) != 0 {
		t.Fatalf("--print changed something: stat %v, systemctl %v", err, sc.calls)
	}

	out, _, err = run("install", "--binary", bin, "--config", config)
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	got, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != printed {
		t.Errorf("installed unit differs from --print:\n%s\nvs\n%s", got, printed)
	}
	if fi, _ := os.Stat(unitPath); fi.Mode().Perm() != 0o644 {
		t.Errorf("unit mode %v, want 0644", fi.Mode().Perm())
	}
	if want := [][]string{{"daemon-reload"}, {"enable", "--now", unitName}}; !slices.EqualFunc(sc.calls, want, slices.Equal) {
		t.Errorf("install ran systemctl %v, want %v", sc.calls, want)
	}

	sc.calls = nil
	out, _, err = run("status")
	if err != nil || !strings.Contains(out, "installed") || !strings.Contains(out, "active (running)") {
		t.Errorf("status: %v %q", err, out)
	}
	if want := [][]string{{"status", "--no-pager", "--lines=10", unitName}}; !slices.EqualFunc(sc.calls, want, slices.Equal) {
		t.Errorf("status ran systemctl %v, want %v", sc.calls, want)
	}

	sc.calls = nil
	if out, _, err = run("uninstall"); err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	if _, err := os.Stat(unitPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unit still there after uninstall: %v", err)
	}
	if want := [][]string{{"disable", "--now", unitName}, {"daemon-reload"}}; !slices.EqualFunc(sc.calls, want, slices.Equal) {
		t.Errorf("uninstall ran systemctl %v, want %v", sc.calls, want)
	}
	if out, _, err = run("uninstall"); err != nil || !strings.Contains(out, "nothing to do") {
		t.Errorf("second uninstall: %v %q, want nothing to do", err, out)
	}

	t.Run("no start", func(t *testing.T) {
		sc.calls = nil
		if out, _, err := run("install", "--binary", bin, "--config", config, "--no-start"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if want := [][]string{{"daemon-reload"}}; !slices.EqualFunc(sc.calls, want, slices.Equal) {
			t.Errorf("--no-start ran systemctl %v, want %v", sc.calls, want)
		}
	})

	t.Run("a failed uninstall keeps the unit", func(t *testing.T) {
		sc.fail = "disable"
		defer func() { sc.fail = "" }()
		if _, _, err := run("uninstall"); err == nil || !strings.Contains(err.Error(), "unit file is kept") {
			t.Errorf("got %v, want an error saying the unit file is kept", err)
		}
		if _, err := os.Stat(unitPath); err != nil {
			t.Errorf("unit removed although systemctl failed: %v", err)
		}
	})
}

func TestServiceInstallErrors(t *testing.T) {
	sc := &fakeSystemctl{}
	sc.install(t)
	bin := fakeBinary(t, t.TempDir())
	unitDir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(secret, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"relative binary", []string{"--binary", "roster"}, "give an absolute path"},
		{"missing binary", []string{"--binary", "/nonexistent/roster"}, "is not an executable file"},
		{"missing config", []string{"--binary", bin, "--config", "/nonexistent/roster.json"}, "no configuration file at /nonexistent/roster.json"},
		{"config a dynamic user cannot read", []string{"--binary", bin, "--config", secret}, "cannot read " + secret},
		{"unknown user", []string{"--binary", bin, "--config", "", "--user", "no-such-user-r0ster"}, `user "no-such-user-r0ster" does not exist`},
		{"bad user name", []string{"--binary", bin, "--user", "a b"}, "not a valid account name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"service", "install", "--unit-dir", unitDir}, tt.args...)
			_, _, err := runCLI(t, t.TempDir(), args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if len(sc.calls) != 0 {
		t.Errorf("failed installs ran systemctl %v", sc.calls)
	}
	if entries, _ := os.ReadDir(unitDir); len(entries) != 0 {
		t.Errorf("failed installs left files: %v", entries)
	}

	t.Run("not root", func(t *testing.T) {
		old := geteuid
		geteuid = func() int { return 1000 }
		defer func() { geteuid = old }()
		for _, sub := range []string{"install", "uninstall"} {
			args := []string{"service", sub, "--unit-dir", systemUnitDir}
			if sub == "install" {
				args = append(args, "--binary", bin)
			}
			_, _, err := runCLI(t, t.TempDir(), args...)
			if err == nil || !strings.Contains(err.Error(), "must run as root") || !strings.Contains(err.Error(), "sudo") {
				t.Errorf("%s as a user: got %v, want must run as root … sudo", sub, err)
			}
		}
	})
}

func TestHiddenFromService(t *testing.T) {
	for path, want := range map[string]string{
		"/root/go/bin/roster":    "/root",
		"/home/ann/bin/roster":   "/home",
		"/tmp/roster":            "/tmp",
		"/usr/local/bin/roster":  "",
		"/opt/roster/bin/roster": "",
		"/homestead/roster":      "",
	} {
		if got := hiddenFromService(path); got != want {
			t.Errorf("hiddenFromService(%q): got %q, want %q", path, got, want)
		}
	}
}
