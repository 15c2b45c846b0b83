// Package pgtest gives tests a real PostgreSQL: one throwaway cluster per
// test binary, created with initdb in a temporary directory and served by
// postgres on a free 127.0.0.1 port, and a fresh database per test.
//
// A test package that uses it runs its tests through Main, which stops the
// cluster when they end:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// New skips the test, saying how to install PostgreSQL, when its server
// binaries are not found. Tests running as root start initdb and postgres
// as the unprivileged user nobody (PostgreSQL refuses to run as root).
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// cluster is the binary's one running PostgreSQL.
type cluster struct {
	dir    string // temporary directory: data/ and the unix socket
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
	admin  *sql.DB // to the postgres database, for CREATE/DROP DATABASE
	log    string  // the server's log file
	watch  *exec.Cmd
}

var (
	mu       sync.Mutex
	running  *cluster
	startErr error
	started  bool
	dbSeq    atomic.Int64
	durable  bool
)

// Durable makes the cluster, when New next starts it, keep PostgreSQL's
// durable defaults (fsync, synchronous_commit and full_page_writes on)
// instead of the fast test settings: for benchmarks, whose figures must
// include the commit's flush. Call it before the first New (or after Stop).
func Durable() {
	mu.Lock()
	defer mu.Unlock()
	durable = true
}

// Main runs the tests of m and then stops the cluster if a test started
// one; it returns m.Run's exit code. Call it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the cluster and removes its directory; New starts a new one
// afterwards. Main calls it; a TestMain that runs m.Run itself calls it
// after.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if running != nil {
		running.stop()
	}
	running, startErr, started = nil, nil, false
}

// New creates an empty database in the binary's cluster (starting the
// cluster on first use) and returns its postgres:// URL; the database is
// dropped when the test ends. It skips the test when PostgreSQL is not
// installed.
func New(t testing.TB) string {
	t.Helper()
	c, err := get()
	if errors.Is(err, errNotInstalled) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if running != c {
			return // stopped: the database went with the cluster
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE ends connections a test left open (PostgreSQL 13+).
		if _, err := c.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return c.url(name)
}

// Available reports whether PostgreSQL's server binaries are installed,
// and if not, why (the message New skips with).
func Available() (bool, string) {
	if _, err := binDir(); err != nil {
		return false, err.Error()
	}
	return true, ""
}

func (c *cluster) url(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User("roster"), Host: "127.0.0.1:" + strconv.Itoa(c.port), Path: "/" + db,
		RawQuery: "sslmode=disable"}
	return u.String()
}

var errNotInstalled = errors.New("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or in pg_config --bindir); install it, e.g. `apt-get install postgresql`, to run the PostgreSQL tests")

func get() (*cluster, error) {
	mu.Lock()
	defer mu.Unlock()
	if !started {
		started = true
		running, startErr = start()
	}
	return running, startErr
}

// binDir finds the newest PostgreSQL server binaries: Debian installs them
// under /usr/lib/postgresql/<major>/bin, others on PATH or where pg_config
// says.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errNotInstalled
}

func major(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// start runs initdb and postgres. As root, both run as nobody, owning the
// temporary directory.
func start() (*cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, log: filepath.Join(dir, "postgres.log")}
	cred, err := credential(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "roster", "--auth=trust",
		"--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// Another process may take the free port between our probe and
	// postgres's bind: try a few.
	for attempt := 0; ; attempt++ {
		err = c.run(bin, data, cred)
		if err == nil {
			return c, nil
		}
		if attempt == 4 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

func (c *cluster) run(bin, data string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c.port = port
	logf, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if cred != nil {
		logf.Chown(int(cred.Uid), int(cred.Gid)) //nolint:errcheck
	}
	args := []string{"-D", data,
		"-c", "listen_addresses=127.0.0.1", "-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=" + c.dir,
		"-c", "max_connections=300", "-c", "shared_buffers=32MB"}
	if !durable {
		// Durability is not what these tests check: fsync off makes CREATE
		// DATABASE and commits fast. Never use these settings outside tests.
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C meant for `go test` reaches postgres
	// only through Stop (or the watchdog).
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	logf.Close()
	c.cmd, c.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(c.exited) }() //nolint:errcheck
	c.watch = watchdog(cmd.Process.Pid, c.dir)
	admin, err := sql.Open("pgx", c.url("postgres"))
	if err != nil {
		c.stop()
		return err
	}
	c.admin = admin
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-c.exited:
			b, _ := os.ReadFile(c.log)
			c.admin.Close()
			c.admin = nil
			return fmt.Errorf("postgres exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(c.log)
			c.stop()
			return fmt.Errorf("postgres did not accept connections within a minute: %v\n%s", err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// watchdog starts a shell that stops postgres (and removes its directory)
// if the test binary dies without calling Stop, e.g. killed by go test's
// timeout, so that no server outlives its tests.
func watchdog(pgPID int, dir string) *exec.Cmd {
	script := fmt.Sprintf(`while kill -0 %d 2>/dev/null; do sleep 1; done; kill -INT %d 2>/dev/null; sleep 5; kill -KILL %d 2>/dev/null; rm -rf '%s'`,
		os.Getpid(), pgPID, pgPID, dir)
	w := exec.Command("sh", "-c", script)
	w.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if w.Start() != nil {
		return nil
	}
	return w
}

// stop shuts postgres down (fast shutdown: SIGINT) and removes the directory.
func (c *cluster) stop() {
	if c.admin != nil {
		c.admin.Close()
	}
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGINT) //nolint:errcheck
		select {
		case <-c.exited:
		case <-time.After(30 * time.Second):
			c.cmd.Process.Kill() //nolint:errcheck
			<-c.exited
		}
	}
	if c.watch != nil {
		// Its whole group: the shell and the sleep it may be waiting in.
		syscall.Kill(-c.watch.Process.Pid, syscall.SIGKILL) //nolint:errcheck
		c.watch.Wait()                                      //nolint:errcheck
	}
	os.RemoveAll(c.dir)
}

// credential returns who runs PostgreSQL: nil (this process's user) unless
// running as root, then nobody, who is given dir.
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as another user, but there is no user nobody: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// The backend of the current pass of MainBackends.
var pass struct {
	sync.Mutex
	postgres bool
}

// MainBackends runs the tests of m once per backend, SQLite first, then
// PostgreSQL (skipped, saying why, when its server binaries are missing),
// and stops the cluster at the end; it returns the first failing pass's
// exit code. The tests get their store's location from Location, so one
// suite shows that a package behaves the same on both backends. The
// environment variable ROSTER_TEST_BACKENDS ("sqlite", "postgres" or both,
// comma-separated) narrows the passes. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.MainBackends(m, "feedhttp")) }
func MainBackends(m *testing.M, pkg string) int {
	backends := os.Getenv("ROSTER_TEST_BACKENDS")
	if backends == "" {
		backends = "sqlite,postgres"
	}
	code := 0
	for _, b := range strings.Split(backends, ",") {
		switch b = strings.TrimSpace(b); b {
		case "sqlite", "postgres":
		default:
			fmt.Fprintf(os.Stderr, "ROSTER_TEST_BACKENDS: unknown backend %q (sqlite, postgres)\n", b)
			return 2
		}
		if b == "postgres" {
			if ok, why := Available(); !ok {
				fmt.Printf("%s: skipping the PostgreSQL pass: %s\n", pkg, why)
				continue
			}
		}
		pass.Lock()
		pass.postgres = b == "postgres"
		pass.Unlock()
		fmt.Printf("=== %s tests on %s\n", pkg, b)
		if c := m.Run(); c != 0 && code == 0 {
			code = c
		}
	}
	Stop()
	return code
}

// Location returns where a test's store lives in the current pass of
// MainBackends: a new roster.db in a temporary directory, or the URL of a
// new, empty PostgreSQL database.
func Location(t testing.TB) string {
	t.Helper()
	if Postgres() {
		return New(t)
	}
	return filepath.Join(t.TempDir(), "roster.db")
}

// Postgres reports whether the current pass of MainBackends is
// PostgreSQL's, for a test of something only SQLite has to skip.
func Postgres() bool {
	pass.Lock()
	defer pass.Unlock()
	return pass.postgres
}
