package sysservice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/store"
)

// recorder stands in for systemctl and useradd: it records each command.
type recorder struct {
	mu    sync.Mutex
	calls []string
	fail  string // a command line prefix that fails
}

func (r *recorder) run(_ context.Context, _, _ io.Writer, name string, args ...string) error {
	line := strings.Join(append([]string{name}, args...), " ")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, line)
	if r.fail != "" && strings.HasPrefix(line, r.fail) {
		return fmt.Errorf("%s: exit status 1", line)
	}
	return nil
}

func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// testHost is an Installer whose system paths lie in a temporary directory,
// with home standing for the users' home directories the unit hides.
type testHost struct {
	*Installer
	root, home string
	rec        *recorder
}

func newTestHost(t *testing.T) *testHost {
	t.Helper()
	root := t.TempDir()
	// Let other accounts through, as / and /usr are (t.TempDir is 0700).
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h := &testHost{root: root, home: filepath.Join(root, "home"), rec: &recorder{}}
	h.Installer = System(io.Discard, io.Discard)
	h.Paths = SystemPaths().Under(root)
	h.Run = h.rec.run
	h.Hidden = []string{h.home}
	h.StopTimeout = 30 * time.Second
	return h
}

// binary is an executable standing in for the roster binary.
func (h *testHost) binary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(h.root, "usr/local/bin/roster")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// me is the account running the test, which the tests install as.
func me(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// foreground makes a foreground setup in the fake home: a store with a
// tenant and a token (made through the directory), and the wizard's config
// file. It returns the data directory and the token.
func (h *testHost) foreground(t *testing.T, cfg config.Config) (string, string) {
	t.Helper()
	dataDir := filepath.Join(h.home, "ann/.local/state/roster")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dataDir, storeFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := directory.New(db, nil, nil)
	if _, err := dir.AddTenant(ctx, "contoso", "Contoso", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	issued, err := dir.IssueToken(ctx, "contoso", "entra", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dataDir
	if err := cfg.Write(filepath.Join(dataDir, ForegroundConfig)); err != nil {
		t.Fatal(err)
	}
	return dataDir, issued.Token.Reveal()
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

func TestHidden(t *testing.T) {
	in := System(io.Discard, io.Discard)
	for path, want := range map[string]string{
		"/root/go/bin/roster":    "/root",
		"/home/ann/bin/roster":   "/home",
		"/tmp/roster":            "/tmp",
		"/usr/local/bin/roster":  "",
		"/opt/roster/bin/roster": "",
		"/homestead/roster":      "",
	} {
		if got := in.hidden(path); got != want {
			t.Errorf("hidden(%q): got %q, want %q", path, got, want)
		}
	}
}

// TestUnitVerifies runs systemd-analyze verify on the rendered unit (a
// binary path with a space and a percent sign too), checks that a unit
// pointing at a missing binary fails, so the check is real, and reads
// systemd's own exposure score of the sandbox.
func TestUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd): the generated unit is not verified")
	}
	write := func(t *testing.T, unit string) string {
		p := filepath.Join(t.TempDir(), UnitName)
		if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	verify := func(t *testing.T, unit string) (string, error) {
		out, err := exec.Command(analyze, "verify", write(t, unit)).CombinedOutput()
		return string(out), err
	}
	exe := func(dir string) string {
		p := filepath.Join(dir, "roster")
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	odd := filepath.Join(t.TempDir(), "my tools 100%")
	if err := os.Mkdir(odd, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, bin, user string }{
		{"default account", exe(t.TempDir()), DefaultUser},
		{"named account", exe(t.TempDir()), "daemon"},
		{"path with a space and a percent sign", exe(odd), DefaultUser},
	} {
		t.Run(tt.name, func(t *testing.T) {
			unit, err := renderUnit(tt.bin, agentArgs(), tt.user)
			if err != nil {
				t.Fatal(err)
			}
			if out, err := verify(t, unit); err != nil || strings.TrimSpace(out) != "" {
				t.Errorf("systemd-analyze verify: %v\n%s\nunit:\n%s", err, out, unit)
			}
		})
	}
	t.Run("missing binary fails", func(t *testing.T) {
		unit, err := renderUnit(filepath.Join(t.TempDir(), "no-such-roster"), agentArgs(), DefaultUser)
		if err != nil {
			t.Fatal(err)
		}
		out, err := verify(t, unit)
		if err == nil || !strings.Contains(out, "no-such-roster") {
			t.Errorf("systemd-analyze verify of a unit with a missing binary: got %v %q, want a failure naming it", err, out)
		}
	})
	t.Run("security exposure", func(t *testing.T) {
		unit, err := renderUnit(exe(t.TempDir()), agentArgs(), DefaultUser)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := exec.Command(analyze, "security", "--offline=yes", "--no-pager", write(t, unit)).CombinedOutput()
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

// TestInstallMovesForegroundSetup installs over a foreground setup whose
// TLS files lie in the (hidden) home: the store, the certificate files and
// the configuration land in the service's directories with the account's
// group or ownership and nothing for others, the configuration's paths
// point there, the foreground store is moved aside, and the token issued
// in the foreground authenticates against the copy.
func TestInstallMovesForegroundSetup(t *testing.T) {
	h := newTestHost(t)
	bin := h.binary(t)
	certs := filepath.Join(h.home, "ann/certs")
	if err := os.MkdirAll(certs, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(certs, f), []byte("PEM "+f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.TLS.Mode, cfg.TLS.CertFile, cfg.TLS.KeyFile = config.TLSModeFiles, filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem")
	cfg.Listen = "127.0.0.1:8443"
	dataDir, tok := h.foreground(t, cfg)
	acct, err := lookupAccount(user.Lookup, me(t))
	if err != nil {
		t.Fatal(err)
	}

	res, err := h.Install(context.Background(), Options{Binary: bin, User: acct.name, DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"systemctl daemon-reload", "systemctl enable --now " + UnitName}; !slices.Equal(h.rec.lines(), want) {
		t.Errorf("ran %q, want %q", h.rec.lines(), want)
	}
	if !res.Started || res.MovedFrom != dataDir || res.Listen != "127.0.0.1:8443" {
		t.Errorf("result %+v", res)
	}
	if exists(filepath.Join(dataDir, storeFile)) || !exists(res.MovedAside) {
		t.Errorf("the foreground store was not moved aside to %s", res.MovedAside)
	}

	// Owners and modes, as the service's account and everybody else see them.
	type want struct {
		path     string
		mode     os.FileMode
		uid, gid int // -1: any
	}
	state, conf := h.Paths.StateDir, h.Paths.ConfigDir
	for _, w := range []want{
		{state, 0o700, acct.uid, acct.gid},
		{filepath.Join(state, storeFile), 0o600, acct.uid, acct.gid},
		{conf, 0o750, -1, acct.gid},
		{filepath.Join(conf, config.FileName), 0o640, -1, acct.gid},
		{filepath.Join(conf, "tls"), 0o750, -1, acct.gid},
		{filepath.Join(conf, "tls/cert.pem"), 0o640, -1, acct.gid},
		{filepath.Join(conf, "tls/key.pem"), 0o640, -1, acct.gid},
		{filepath.Join(h.Paths.UnitDir, UnitName), 0o644, -1, -1},
	} {
		fi, err := os.Stat(w.path)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != w.mode || (w.uid >= 0 && int(st.Uid) != w.uid) || (w.gid >= 0 && int(st.Gid) != w.gid) {
			t.Errorf("%s: mode %04o owner %d:%d, want %04o %d:%d", w.path, fi.Mode().Perm(), st.Uid, st.Gid, w.mode, w.uid, w.gid)
		}
	}
	for _, p := range []string{filepath.Join(state, storeFile), filepath.Join(conf, config.FileName), filepath.Join(conf, "tls/key.pem")} {
		if err := acct.may(p, 4); err != nil {
			t.Errorf("the service's account: %v", err)
		}
		other := &account{name: "other", uid: 1<<31 - 2, gid: 1<<31 - 2}
		if err := other.may(p, 4); err == nil {
			t.Errorf("another account may read %s", p)
		}
	}

	got, err := config.Load(filepath.Join(conf, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if got.DataDir != "" || got.TLS.CertFile != filepath.Join(conf, "tls/cert.pem") || got.TLS.KeyFile != filepath.Join(conf, "tls/key.pem") || got.Listen != cfg.Listen {
		t.Errorf("installed config: data_dir %q cert %q key %q listen %q", got.DataDir, got.TLS.CertFile, got.TLS.KeyFile, got.Listen)
	}
	if b, _ := os.ReadFile(filepath.Join(conf, "tls/key.pem")); string(b) != "PEM key.pem" {
		t.Errorf("copied key = %q", b)
	}

	db, err := store.Open(context.Background(), filepath.Join(state, storeFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := directory.New(db, nil, nil).Authenticate(context.Background(), "contoso", tok); err != nil {
		t.Errorf("the foreground token does not authenticate against the service's store: %v", err)
	}
}

func TestInstallRefuses(t *testing.T) {
	ctx := context.Background()
	t.Run("a directory without a store", func(t *testing.T) {
		h := newTestHost(t)
		_, err := h.Install(ctx, Options{Binary: h.binary(t), User: me(t), DataDir: t.TempDir()})
		var oe *OptionError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), "there is no Roster store") {
			t.Errorf("got %v, want an OptionError: there is no Roster store", err)
		}
	})
	t.Run("the service has a store already", func(t *testing.T) {
		h := newTestHost(t)
		dataDir, _ := h.foreground(t, config.Default())
		if err := os.MkdirAll(h.Paths.StateDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(h.Paths.StateDir, storeFile), []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		o := Options{Binary: h.binary(t), User: me(t), DataDir: dataDir}
		if _, err := h.Install(ctx, o); err == nil || !strings.Contains(err.Error(), "--replace") {
			t.Fatalf("got %v, want a refusal naming --replace", err)
		}
		if !exists(filepath.Join(dataDir, storeFile)) || len(h.rec.lines()) != 0 {
			t.Fatalf("a refused install changed something: %v", h.rec.lines())
		}
		o.Replace = true
		if _, err := h.Install(ctx, o); err != nil {
			t.Fatal(err)
		}
		old, _ := filepath.Glob(filepath.Join(h.Paths.StateDir, storeFile+".replaced-*"))
		if len(old) != 1 {
			t.Errorf("the service's old store is not kept: %v", old)
		}
		if err := store.Verify(ctx, filepath.Join(h.Paths.StateDir, storeFile)); err != nil {
			t.Error(err)
		}
	})
	t.Run("a key the account cannot read", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to install as another account")
		}
		h := newTestHost(t)
		keys := filepath.Join(h.root, "srv/tls") // not hidden: used where it is
		if err := os.MkdirAll(keys, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"cert.pem", "key.pem"} {
			if err := os.WriteFile(filepath.Join(keys, f), []byte("PEM"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cfg := config.Default()
		cfg.TLS.Mode, cfg.TLS.CertFile, cfg.TLS.KeyFile = config.TLSModeFiles, filepath.Join(keys, "cert.pem"), filepath.Join(keys, "key.pem")
		dataDir, _ := h.foreground(t, cfg)
		_, err := h.Install(ctx, Options{Binary: h.binary(t), User: "daemon", DataDir: dataDir})
		if err == nil || !strings.Contains(err.Error(), "tls.cert_file") || !strings.Contains(err.Error(), "cannot use") {
			t.Errorf("got %v, want a refusal: the account cannot reach tls.cert_file", err)
		}
		if !exists(filepath.Join(dataDir, storeFile)) || exists(h.Paths.StateDir) {
			t.Errorf("a refused install changed something")
		}
	})
	t.Run("an unknown account", func(t *testing.T) {
		h := newTestHost(t)
		_, err := h.Install(ctx, Options{Binary: h.binary(t), User: "no-such-user-r0ster"})
		if err == nil || !strings.Contains(err.Error(), `user "no-such-user-r0ster" does not exist`) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a binary in a hidden directory", func(t *testing.T) {
		h := newTestHost(t)
		h.Hidden = append(h.Hidden, h.root)
		_, err := h.Install(ctx, Options{Binary: h.binary(t), User: me(t)})
		if err == nil || !strings.Contains(err.Error(), "which the service cannot see") {
			t.Errorf("got %v", err)
		}
	})
}

// TestInstallCreatesTheAccount: without --user the default account is
// created with useradd when it does not exist.
func TestInstallCreatesTheAccount(t *testing.T) {
	h := newTestHost(t)
	created := false
	h.Run = func(ctx context.Context, out, errOut io.Writer, name string, args ...string) error {
		created = created || name == "useradd"
		return h.rec.run(ctx, out, errOut, name, args...)
	}
	current, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	h.LookupUser = func(name string) (*user.User, error) {
		if name != DefaultUser || !created {
			return nil, user.UnknownUserError(name)
		}
		return current, nil // the account useradd made, played by the tester
	}
	if _, err := h.Install(context.Background(), Options{Binary: h.binary(t), NoStart: true}); err != nil {
		t.Fatal(err)
	}
	want := "useradd --system --user-group --home-dir " + h.Paths.StateDir + " --no-create-home --shell /usr/sbin/nologin --comment Roster SCIM agent roster"
	if got := h.rec.lines(); len(got) == 0 || got[0] != want {
		t.Errorf("ran %q, want first %q", got, want)
	}
	unit, _ := os.ReadFile(filepath.Join(h.Paths.UnitDir, UnitName))
	if !strings.Contains(string(unit), "\nUser=roster\nGroup=roster\n") {
		t.Errorf("unit does not run as roster:\n%s", unit)
	}
}

// TestStopHolders stops a real process that holds the store open, and
// reports one that ignores SIGTERM with the command to stop it.
func TestStopHolders(t *testing.T) {
	h := newTestHost(t)
	h.StopTimeout = 2 * time.Second
	db := filepath.Join(t.TempDir(), storeFile)
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	hold := func(script string) *exec.Cmd {
		c := exec.Command("sh", "-c", script, "sh", db)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()          //nolint:errcheck
		t.Cleanup(func() { c.Process.Kill(); <-done }) //nolint:errcheck
		// Wait until it holds the file.
		for deadline := time.Now().Add(10 * time.Second); len(h.holders([]string{db})) == 0; {
			if time.Now().After(deadline) {
				t.Fatal("the helper process never opened the file")
			}
			time.Sleep(10 * time.Millisecond)
		}
		return c
	}
	c := hold(`exec 3<"$1"; exec sleep 600`)
	stopped, err := h.stopHolders(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if len(stopped) != 1 || stopped[0].PID != c.Process.Pid || !strings.Contains(stopped[0].Command, "sleep 600") {
		t.Errorf("stopped %+v, want pid %d (sleep 600)", stopped, c.Process.Pid)
	}

	c = hold(`trap '' TERM; exec 3<"$1"; while :; do sleep 1 3<&-; done`)
	_, err = h.stopHolders(context.Background(), db)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("kill %d", c.Process.Pid)) {
		t.Errorf("got %v, want an error naming kill %d", err, c.Process.Pid)
	}
}

// TestInstallKeepsTheServiceConfig: --config naming the service's own file
// keeps it as the administrator wrote it (comments too), although the
// foreground setup has a roster.conf; Check changes nothing.
func TestInstallKeepsTheServiceConfig(t *testing.T) {
	h := newTestHost(t)
	fgCfg := config.Default()
	fgCfg.Listen = "127.0.0.1:18080"
	dataDir, _ := h.foreground(t, fgCfg)
	dst := filepath.Join(h.Paths.ConfigDir, config.FileName)
	if err := os.MkdirAll(h.Paths.ConfigDir, 0o755); err != nil {
		t.Fatal(err)
	}
	own := "// written by the administrator\n{\"listen\": \"127.0.0.1:8443\"}\n"
	if err := os.WriteFile(dst, []byte(own), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Options{Binary: h.binary(t), User: me(t), DataDir: dataDir, Config: dst}
	if err := h.Check(o); err != nil {
		t.Fatal(err)
	}
	if exists(h.Paths.StateDir) || !exists(filepath.Join(dataDir, storeFile)) || len(h.rec.lines()) != 0 {
		t.Fatal("Check changed something")
	}
	res, err := h.Install(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != own || res.Listen != "127.0.0.1:8443" {
		t.Errorf("the service's configuration became %q (listen %s), want it kept", b, res.Listen)
	}
	if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o640 {
		t.Errorf("kept configuration mode %04o, want 0640", fi.Mode().Perm())
	}
}

// TestInstallOverDynamicUserState: an earlier unit with DynamicUser=yes
// left the state in /var/lib/private/roster behind a symlink; the install
// writes through it and gives the real directory's files to the account.
func TestInstallOverDynamicUserState(t *testing.T) {
	h := newTestHost(t)
	dataDir, tok := h.foreground(t, config.Default())
	private := filepath.Join(filepath.Dir(h.Paths.StateDir), "private/roster")
	if err := os.MkdirAll(private, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("private/roster", h.Paths.StateDir); err != nil {
		t.Fatal(err)
	}
	acct, err := lookupAccount(user.Lookup, me(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Install(context.Background(), Options{Binary: h.binary(t), User: acct.name, DataDir: dataDir}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(private, storeFile))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != acct.uid || fi.Mode().Perm() != 0o600 {
		t.Errorf("store behind the symlink: owner %d mode %04o, want %d 0600", st.Uid, fi.Mode().Perm(), acct.uid)
	}
	db, err := store.Open(context.Background(), filepath.Join(h.Paths.StateDir, storeFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := directory.New(db, nil, nil).Authenticate(context.Background(), "contoso", tok); err != nil {
		t.Errorf("the token does not authenticate against the copy: %v", err)
	}
}
