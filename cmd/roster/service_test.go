//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/setup"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/sysservice"
	"github.com/rosterhq/roster/store"
)

// testService points `roster service` at a system under a temporary root:
// the unit, /etc/roster and /var/lib/roster there, home standing for the
// users' home directories the unit hides, and systemctl recorded instead
// of run.
type testService struct {
	root, home string
	paths      sysservice.Paths
	euid       int // pretended effective uid; -1: the real one

	mu    sync.Mutex
	calls [][]string
	fail  string // a systemctl subcommand that fails
	// onStart, if set, plays systemd starting the unit (enable --now).
	onStart func()
	// executable is the binary the service runs by default ("" this one).
	executable string
	// roster, if set, plays the account install would create.
	roster *user.User
}

func newTestService(t *testing.T) *testService {
	t.Helper()
	root := t.TempDir()
	// Let other accounts through, as / and /usr are (t.TempDir is 0700).
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ts := &testService{root: root, home: filepath.Join(root, "home"), euid: -1, paths: sysservice.SystemPaths().Under(root)}
	old := newInstaller
	newInstaller = func(out, errOut io.Writer) *sysservice.Installer {
		in := sysservice.System(out, errOut)
		in.Paths = ts.paths
		in.Hidden = []string{ts.home}
		in.Run = ts.run
		if ts.euid >= 0 {
			in.Euid = func() int { return ts.euid }
		}
		if ts.executable != "" {
			in.Executable = func() (string, error) { return ts.executable, nil }
		}
		if ts.roster != nil {
			in.LookupUser = func(name string) (*user.User, error) {
				if name == sysservice.DefaultUser {
					return ts.roster, nil
				}
				return user.Lookup(name)
			}
		}
		return in
	}
	t.Cleanup(func() { newInstaller = old })
	return ts
}

func (ts *testService) run(_ context.Context, out, _ io.Writer, name string, args ...string) error {
	if ts.onStart != nil && slices.Equal(args, []string{"enable", "--now", sysservice.UnitName}) {
		ts.onStart()
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.calls = append(ts.calls, append([]string{name}, args...))
	if name == "systemctl" && len(args) > 0 && args[0] == ts.fail {
		return errors.New("systemctl " + strings.Join(args, " ") + ": exit status 1")
	}
	if name == "systemctl" && len(args) > 0 && args[0] == "status" {
		io.WriteString(out, "● roster.service - Roster SCIM 2.0 agent\n     Active: active (running)\n") //nolint:errcheck
	}
	return nil
}

func (ts *testService) takeCalls() [][]string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	c := ts.calls
	ts.calls = nil
	return c
}

// cli runs `roster service ARGS --unit-dir <the test's>` on dataDir.
func (ts *testService) cli(t *testing.T, dataDir string, args ...string) (string, string, error) {
	t.Helper()
	return runCLI(t, dataDir, append(append([]string{"service"}, args...), "--unit-dir", ts.paths.UnitDir)...)
}

// testBinary links (or copies) this test binary, which acts as roster with
// ROSTER_TEST_MAIN=1, to where another account may run it.
func (ts *testService) testBinary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(ts.root, "usr/local/bin/roster")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if os.Link(self, p) == nil {
		return p
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func currentUser(t *testing.T) *user.User {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestServiceUnitContents(t *testing.T) {
	ts := newTestService(t)
	bin := ts.testBinary(t)
	out, _, err := ts.cli(t, t.TempDir(), "install", "--print", "--binary", bin)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Type=notify",
		// The agent finds its configuration and data through systemd's
		// $CONFIGURATION_DIRECTORY and $STATE_DIRECTORY.
		"ExecStart=" + bin + " agent",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"Restart=on-failure",
		"WatchdogSec=60s",
		"User=roster",
		"Group=roster",
		"StateDirectory=roster",
		"StateDirectoryMode=0700",
		"ConfigurationDirectory=roster",
		"ConfigurationDirectoryMode=0750",
		"ProtectSystem=strict",
		"ProtectHome=yes",
		"PrivateTmp=yes",
		"NoNewPrivileges=yes",
		"RemoveIPC=yes",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
		"SystemCallFilter=@system-service",
		"UMask=0077",
		"WantedBy=multi-user.target",
	}
	lines := strings.Split(out, "\n")
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("unit lacks the line %q:\n%s", w, out)
		}
	}
	if slices.Contains(lines, "DynamicUser=yes") {
		t.Errorf("unit uses a dynamic user:\n%s", out)
	}

	out, _, err = ts.cli(t, t.TempDir(), "install", "--dry-run", "--binary", bin, "--user", "rosterd")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"User=rosterd", "Group=rosterd"} {
		if !slices.Contains(strings.Split(out, "\n"), w) {
			t.Errorf("with --user rosterd: unit lacks %q:\n%s", w, out)
		}
	}
	if len(ts.takeCalls()) != 0 {
		t.Error("--print ran commands")
	}
}

func TestServiceInstallUninstallStatus(t *testing.T) {
	ts := newTestService(t)
	bin := ts.testBinary(t)
	me := currentUser(t).Username
	// --data-dir is the service's own state directory: nothing to move.
	data := ts.paths.StateDir
	unitPath := filepath.Join(ts.paths.UnitDir, sysservice.UnitName)

	out, _, err := ts.cli(t, data, "status")
	if err != nil || !strings.Contains(out, "not installed") {
		t.Fatalf("status before install: %v %q, want not installed", err, out)
	}

	printed, _, err := ts.cli(t, data, "install", "--print", "--binary", bin, "--user", me)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(unitPath); !errors.Is(err, os.ErrNotExist) || len(ts.takeCalls()) != 0 {
		t.Fatalf("--print changed something: stat %v", err)
	}

	out, _, err = ts.cli(t, data, "install", "--binary", bin, "--user", me)
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
	// Without a configuration anywhere, the defaults are written for the admin to edit.
	if _, err := config.Load(filepath.Join(ts.paths.ConfigDir, config.FileName)); err != nil || !strings.Contains(out, "wrote the default configuration") {
		t.Errorf("no default configuration: %v\n%s", err, out)
	}
	unit := sysservice.UnitName
	if want := [][]string{{"systemctl", "daemon-reload"}, {"systemctl", "enable", "--now", unit}}; !slices.EqualFunc(ts.takeCalls(), want, slices.Equal) {
		t.Errorf("install ran other commands, want %v", want)
	}

	out, _, err = ts.cli(t, data, "status")
	if err != nil || !strings.Contains(out, "installed") || !strings.Contains(out, "active (running)") {
		t.Errorf("status: %v %q", err, out)
	}
	if want := [][]string{{"systemctl", "status", "--no-pager", "--lines=10", unit}}; !slices.EqualFunc(ts.takeCalls(), want, slices.Equal) {
		t.Errorf("status ran other commands, want %v", want)
	}

	// A second install (a new binary, say) stops the running service first
	// and keeps the service's configuration.
	if out, _, err = ts.cli(t, data, "install", "--binary", bin, "--user", me); err != nil {
		t.Fatalf("install again: %v\n%s", err, out)
	}
	if want := [][]string{{"systemctl", "stop", unit}, {"systemctl", "daemon-reload"}, {"systemctl", "enable", "--now", unit}}; !slices.EqualFunc(ts.takeCalls(), want, slices.Equal) {
		t.Errorf("second install ran other commands, want %v", want)
	}

	if out, _, err = ts.cli(t, data, "uninstall"); err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	if _, err := os.Stat(unitPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unit still there after uninstall: %v", err)
	}
	if want := [][]string{{"systemctl", "disable", "--now", unit}, {"systemctl", "daemon-reload"}}; !slices.EqualFunc(ts.takeCalls(), want, slices.Equal) {
		t.Errorf("uninstall ran other commands, want %v", want)
	}
	if out, _, err = ts.cli(t, data, "uninstall"); err != nil || !strings.Contains(out, "nothing to do") {
		t.Errorf("second uninstall: %v %q, want nothing to do", err, out)
	}

	t.Run("no start", func(t *testing.T) {
		if out, _, err := ts.cli(t, data, "install", "--binary", bin, "--user", me, "--no-start"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if want := [][]string{{"systemctl", "daemon-reload"}}; !slices.EqualFunc(ts.takeCalls(), want, slices.Equal) {
			t.Errorf("--no-start ran other commands, want %v", want)
		}
	})

	t.Run("a failed uninstall keeps the unit", func(t *testing.T) {
		ts.fail = "disable"
		defer func() { ts.fail = "" }()
		if _, _, err := ts.cli(t, data, "uninstall"); err == nil || !strings.Contains(err.Error(), "unit file is kept") {
			t.Errorf("got %v, want an error saying the unit file is kept", err)
		}
		if _, err := os.Stat(unitPath); err != nil {
			t.Errorf("unit removed although systemctl failed: %v", err)
		}
	})
}

func TestServiceInstallErrors(t *testing.T) {
	ts := newTestService(t)
	bin := ts.testBinary(t)
	me := currentUser(t).Username
	tests := []struct {
		name  string
		args  []string
		want  string
		usage bool
	}{
		{"relative binary", []string{"--binary", "roster"}, "give an absolute path", true},
		{"missing binary", []string{"--binary", "/nonexistent/roster", "--user", me}, "is not an executable file", false},
		{"missing config", []string{"--binary", bin, "--user", me, "--config", "/nonexistent/roster.json"}, "/nonexistent/roster.json does not exist", true},
		{"unknown user", []string{"--binary", bin, "--user", "no-such-user-r0ster"}, `user "no-such-user-r0ster" does not exist`, true},
		{"bad user name", []string{"--binary", bin, "--user", "a b"}, "not a valid account name", true},
		{"a data directory without a store", []string{"--binary", bin, "--user", me}, "there is no Roster store", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ts.cli(t, t.TempDir(), append([]string{"install"}, tt.args...)...)
			var ue usageError
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.As(err, &ue) != tt.usage {
				t.Errorf("got %v (usage error: %v), want an error containing %q (usage error: %v)", err, errors.As(err, &ue), tt.want, tt.usage)
			}
		})
	}
	if calls := ts.takeCalls(); len(calls) != 0 {
		t.Errorf("failed installs ran %v", calls)
	}
	if _, err := os.Stat(ts.paths.UnitDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed installs left files: %v", err)
	}

	t.Run("not root", func(t *testing.T) {
		ts.euid = 1000
		defer func() { ts.euid = -1 }()
		system := sysservice.SystemPaths().UnitDir
		for _, sub := range []string{"install", "uninstall"} {
			args := []string{"service", sub, "--unit-dir", system}
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

// serviceAccount is the account the service runs as in the test: a
// system account other than root when the test runs as root (as in CI),
// else the tester.
func serviceAccount(t *testing.T) *user.User {
	t.Helper()
	if os.Geteuid() != 0 {
		return currentUser(t)
	}
	for _, name := range []string{"daemon", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			return u
		}
	}
	t.Skip("no unprivileged system account (daemon, nobody) to run the service as")
	return nil
}

// TestForegroundSetupMovesIntoService is the path from a foreground setup
// to the service in one step. A foreground agent runs on a data directory
// in a user's home (TLS from files in that home, the wizard's roster.conf),
// Entra-style requests create users through it, a second tenant and token
// and an Entra connection are added, and then `roster service install`
// runs while the agent still serves. The install stops the agent, moves
// store, configuration and certificate into the service's directories, and
// the unit's ExecStart line, started as systemd would (as another account,
// with only STATE_DIRECTORY and CONFIGURATION_DIRECTORY pointing at those
// directories), serves the same tokens and users over HTTPS.
func TestForegroundSetupMovesIntoService(t *testing.T) {
	ts := newTestService(t)
	acct := serviceAccount(t)
	uid, _ := strconv.Atoi(acct.Uid)
	gid, _ := strconv.Atoi(acct.Gid)
	bin := ts.testBinary(t)

	// The foreground setup, in the user's home.
	dataDir := filepath.Join(ts.home, "ann/.local/state/roster")
	certs := filepath.Join(ts.home, "ann/certs")
	for _, d := range []string{dataDir, certs} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeCert(t, filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem"))
	pemCert, err := os.ReadFile(filepath.Join(certs, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemCert)
	cfg := config.Default()
	cfg.DataDir, cfg.Listen, cfg.MetricsListen = dataDir, "127.0.0.1:0", ""
	cfg.TLS.Mode, cfg.TLS.CertFile, cfg.TLS.KeyFile = config.TLSModeFiles, filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem")
	conf := filepath.Join(dataDir, sysservice.ForegroundConfig)
	if err := cfg.Write(conf); err != nil {
		t.Fatal(err)
	}
	fg := startAgentProc(t, dataDir, true, "--config", conf)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer client.CloseIdleConnections()
	if !strings.HasPrefix(fg.TenantURL, "https://127.0.0.1:") {
		t.Fatalf("foreground Tenant URL %q, want https://127.0.0.1:…", fg.TenantURL)
	}
	for _, u := range []string{"alice@contoso.com", "bob@contoso.com"} {
		if code, err := scimDo(client, "POST", fg.TenantURL+"/Users", fg.Token, map[string]any{"schemas": []string{scim.SchemaUser}, "userName": u, "active": true}, nil); err != nil || code != 201 {
			t.Fatalf("create %s in the foreground: %d %v", u, code, err)
		}
	}
	if _, _, err := runCLI(t, dataDir, "tenant", "add", "fabrikam"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, dataDir, "token", "issue", "--tenant", "fabrikam", "--name", "entra", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var issued struct{ Token string }
	if err := json.Unmarshal([]byte(out), &issued); err != nil || issued.Token == "" {
		t.Fatalf("token issue: %v %q", err, out)
	}
	fabrikamPath := "/scim/fabrikam/v2/Users"
	if code, err := scimDo(client, "POST", strings.TrimSuffix(fg.TenantURL, "/scim/default/v2")+fabrikamPath, issued.Token, map[string]any{"schemas": []string{scim.SchemaUser}, "userName": "carol@fabrikam.com"}, nil); err != nil || code != 201 {
		t.Fatalf("create carol in the foreground: %d %v", code, err)
	}
	entra := &directory.EntraConnection{JobID: "scim.job-1", TenantURL: fg.TenantURL, TokenID: "tok-1", Connected: time.Now().UTC().Truncate(time.Second)}
	withStore(t, filepath.Join(dataDir, "roster.db"), func(db *store.DB) {
		if err := directory.New(db, nil, nil).SaveEntraConnection(context.Background(), "default", entra); err != nil {
			t.Fatal(err)
		}
	})

	// One step: the agent is still serving.
	out, errOut, err := ts.cli(t, dataDir, "install", "--binary", bin, "--user", acct.Username)
	if err != nil {
		t.Fatalf("service install: %v\n%s\n%s", err, out, errOut)
	}
	select {
	case <-fg.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the foreground agent still runs after the install")
	}
	if !strings.Contains(out, fmt.Sprintf("stopping pid %d", fg.cmd.Process.Pid)) || !strings.Contains(out, "moved:") {
		t.Errorf("install output does not say it stopped the foreground agent and moved its data:\n%s", out)
	}
	if code := fg.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the foreground agent exited %d, want a graceful stop", code)
	}
	unitPath := filepath.Join(ts.paths.UnitDir, sysservice.UnitName)
	if want := [][]string{{"systemctl", "daemon-reload"}, {"systemctl", "enable", "--now", sysservice.UnitName}}; !slices.EqualFunc(ts.takeCalls(), want, slices.Equal) {
		t.Errorf("install ran other commands, want %v", want)
	}
	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		if out, err := exec.Command(analyze, "verify", unitPath).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
		}
	} else {
		t.Log("systemd-analyze is not installed: the installed unit is not verified")
	}

	// No secret readable by others; the service's account owns its data.
	state, confDir := ts.paths.StateDir, ts.paths.ConfigDir
	filepath.WalkDir(ts.root, func(p string, d os.DirEntry, err error) error { //nolint:errcheck
		if err != nil || (!strings.HasPrefix(p, state) && !strings.HasPrefix(p, confDir)) || strings.HasPrefix(p, ts.paths.UnitDir) {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm()&0o007 != 0 {
			t.Errorf("%s is open to others (mode %04o)", p, fi.Mode().Perm())
		}
		inState := strings.HasPrefix(p, state)
		if (inState && (int(st.Uid) != uid || int(st.Gid) != gid)) || (!inState && int(st.Gid) != gid) {
			t.Errorf("%s: owner %d:%d, want %s (%d:%d) in the state directory, group %d in the configuration directory", p, st.Uid, st.Gid, acct.Username, uid, gid, gid)
		}
		return nil
	})

	p := ts.startUnit(t, acct.Username, acct)
	defer p.Stop(t)
	logs := p.stderr.String()
	if !strings.Contains(logs, "data_dir="+state) || !strings.Contains(logs, "config="+filepath.Join(confDir, config.FileName)) || !strings.Contains(logs, "tls=files") {
		t.Errorf("the service does not run on its own directories:\n%s", logs)
	}
	base := "https://" + strings.TrimPrefix(p.BaseURL, "http://")

	users := func(path, token string) (int, []string) {
		var lr struct{ Resources []struct{ UserName string } }
		code, err := scimDo(client, "GET", base+path, token, nil, &lr)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		var names []string
		for _, r := range lr.Resources {
			names = append(names, r.UserName)
		}
		slices.Sort(names)
		return code, names
	}
	if code, names := users("/scim/default/v2/Users", fg.Token); code != 200 || !slices.Equal(names, []string{"alice@contoso.com", "bob@contoso.com"}) {
		t.Errorf("default tenant with the foreground's first token: %d %v, want 200 alice and bob", code, names)
	}
	if code, names := users(fabrikamPath, issued.Token); code != 200 || !slices.Equal(names, []string{"carol@fabrikam.com"}) {
		t.Errorf("fabrikam with its token: %d %v, want 200 carol", code, names)
	}
	if code, _ := users(fabrikamPath, fg.Token); code != 401 {
		t.Errorf("fabrikam with default's token: %d, want 401", code)
	}
	// The service writes as its own account.
	if code, err := scimDo(client, "POST", base+"/scim/default/v2/Users", fg.Token, map[string]any{"schemas": []string{scim.SchemaUser}, "userName": "dave@contoso.com"}, nil); err != nil || code != 201 {
		t.Errorf("create a user through the service: %d %v", code, err)
	}
	p.Stop(t)

	withStore(t, filepath.Join(state, "roster.db"), func(db *store.DB) {
		got, err := directory.New(db, nil, nil).EntraConnection(context.Background(), "default")
		if err != nil || got.JobID != entra.JobID || got.TokenID != entra.TokenID || !got.Connected.Equal(entra.Connected) {
			t.Errorf("the service's Entra connection: %+v %v, want %+v", got, err, entra)
		}
	})
}

// startUnit starts the installed unit's ExecStart command line as systemd
// would: as the unit's account (when the test runs as root), in /, with
// only STATE_DIRECTORY and CONFIGURATION_DIRECTORY (and PATH) set, and
// waits until the agent serves.
func (ts *testService) startUnit(t *testing.T, unitUser string, acct *user.User) *agentProc {
	t.Helper()
	var execStart []string
	unit, err := os.ReadFile(filepath.Join(ts.paths.UnitDir, sysservice.UnitName))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(unit), "\n") {
		if rest, ok := strings.CutPrefix(line, "ExecStart="); ok {
			execStart = strings.Fields(rest) // plain words: no quoting in these paths
		}
	}
	if len(execStart) != 2 || execStart[1] != "agent" || strings.ContainsAny(strings.Join(execStart, " "), `"$%`) {
		t.Fatalf("ExecStart %q, want BINARY agent", execStart)
	}
	if !slices.Contains(strings.Split(string(unit), "\n"), "User="+unitUser) {
		t.Fatalf("the unit does not run as %s:\n%s", unitUser, unit)
	}
	svc := exec.Command(execStart[0], execStart[1:]...)
	svc.Dir = "/"
	svc.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "ROSTER_TEST_MAIN=1",
		"STATE_DIRECTORY=" + ts.paths.StateDir, "CONFIGURATION_DIRECTORY=" + ts.paths.ConfigDir}
	if os.Geteuid() == 0 {
		uid, _ := strconv.Atoi(acct.Uid)
		gid, _ := strconv.Atoi(acct.Gid)
		svc.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	}
	p := startProc(t, svc, false)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" && f[1] != acct.Uid {
			t.Fatalf("the service runs as uid %s, want %s (%s)", f[1], acct.Uid, acct.Username)
		}
	}
	return p
}

// withStore opens the store at path for fn and closes it.
func withStore(t *testing.T, path string, fn func(*store.DB)) {
	t.Helper()
	db, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fn(db)
}

// TestSetupAnswersInstallsTheService chooses the service in the wizard
// (setup --answers, "agent": "service") from a data directory in a user's
// home. The wizard issues the token in that store, then installs the
// service, which moves the store; the fake Graph's Test Connection and
// on-demand provisioning then reach the service (started from its unit as
// another account), so Entra's token is known to it, and the Entra
// connection and the provisioned user end up in the service's store.
func TestSetupAnswersInstallsTheService(t *testing.T) {
	ts := newTestService(t)
	acct := serviceAccount(t)
	// The wizard installs as `roster service install` does by default: this
	// binary, as the account "roster" (played by acct).
	ts.executable, ts.roster = ts.testBinary(t), acct
	fakeGraph(t)
	dataDir := filepath.Join(ts.home, "ann/.local/state/roster")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	var svc *agentProc
	ts.onStart = func() { svc = ts.startUnit(t, sysservice.DefaultUser, acct) }
	defer func() {
		if svc != nil {
			svc.Stop(t)
		}
	}()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	answers := filepath.Join(t.TempDir(), "answers.json")
	b, _ := json.Marshal(map[string]any{
		"tls": "proxy", "public_url": "http://" + listen, "listen": listen, "sign_in": "device-code", "credential": "token", // the Secret Token path

		"app": "Roster", "mappings": []string{"givenName", "surname"}, "scope": "assigned",
		"assign": []string{"alice@contoso.com"}, "agent": "service", "provision_on_demand": "alice@contoso.com",
	})
	if err := os.WriteFile(answers, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI(t, dataDir, "setup", "--answers", answers, "--allow-private-url")
	if err != nil {
		logs, _ := os.ReadFile(filepath.Join(dataDir, "setup.log"))
		t.Fatalf("setup --answers: %v\n%s\n%s\n%s", err, out, errOut, logs)
	}
	if svc == nil {
		t.Fatal("the wizard did not start the service")
	}
	if !strings.Contains(out, "Agent running (service)") {
		t.Errorf("setup output:\n%s", out)
	}
	if exists := sysservice.FindDataDir(dataDir); exists != "" {
		t.Errorf("the foreground store is still in %s", dataDir)
	}
	state := ts.paths.StateDir
	users, _, err := runCLI(t, state, "users", "show", "alice@contoso.com", "--json")
	if err != nil || !strings.Contains(users, `"givenName": "Alice"`) {
		t.Errorf("alice in the service's store: %v\n%s", err, users)
	}
	svc.Stop(t)
	svc = nil
	withStore(t, filepath.Join(state, "roster.db"), func(db *store.DB) {
		if st, err := directory.New(db, nil, nil).EntraConnection(context.Background(), "default"); err != nil || st.JobID == "" {
			t.Errorf("the service's store has no Entra connection: %+v %v", st, err)
		}
	})
	if n := activeTokens(t, state, setup.TokenName); n != 1 {
		t.Errorf("%d active setup tokens in the service's store, want 1", n)
	}
}
