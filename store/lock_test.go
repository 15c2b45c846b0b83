package store

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rosterhq/roster/internal/pgtest"
)

// TestMain lets the test binary hold a lock as another process would (see
// TestExclusiveKilledHolder).
func TestMain(m *testing.M) {
	if path := os.Getenv("ROSTER_STORE_LOCK_HOLDER"); path != "" {
		db, err := Open(context.Background(), path, Options{Exclusive: true})
		if err != nil {
			os.Stdout.WriteString("error: " + err.Error() + "\n")
			os.Exit(1)
		}
		defer db.Close()
		os.Stdout.WriteString("locked\n")
		select {} // until killed
	}
	os.Exit(pgtest.MainBackends(m, "store"))
}

func TestExclusive(t *testing.T) {
	sqliteOnly(t, "Exclusive locks the SQLite file; agents may share a PostgreSQL database")
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roster.db")
	agent, err := Open(ctx, path, Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	addTenant(t, agent, "t1")

	// A second agent is refused, and told who holds the directory.
	_, err = Open(ctx, path, Options{Exclusive: true})
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second exclusive Open: got %v, want *LockedError naming PID %d", err, os.Getpid())
	}
	for _, want := range []string{"PID " + strconv.Itoa(os.Getpid()), filepath.Dir(path), "already running"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	// A CLI command opens the same file without the lock, and reads and
	// writes as before.
	cli, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("Open without Exclusive while the agent runs: %v", err)
	}
	mustRead(t, cli, func(tx *Tx) error { _, err := tx.Tenant("t1"); return err })
	addTenant(t, cli, "t2")
	mustRead(t, agent, func(tx *Tx) error { _, err := tx.Tenant("t2"); return err })
	cli.Close()

	// Close releases the lock.
	if err := agent.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(ctx, path, Options{Exclusive: true})
	if err != nil {
		t.Fatalf("exclusive Open after Close: %v", err)
	}
	again.Close()
}

// TestExclusiveKilledHolder: the lock of another process is refused with
// that process's PID, and once the process is killed (leaving its lock file
// behind) the next agent starts.
func TestExclusiveKilledHolder(t *testing.T) {
	sqliteOnly(t, "Exclusive locks the SQLite file; agents may share a PostgreSQL database")
	path := filepath.Join(t.TempDir(), "roster.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ROSTER_STORE_LOCK_HOLDER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() //nolint:errcheck
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("lock holder said %q, %v", line, err)
	}

	_, err = Open(context.Background(), path, Options{Exclusive: true})
	var le *LockedError
	if !errors.As(err, &le) || le.PID != cmd.Process.Pid {
		t.Fatalf("Open while another process holds the lock: got %v, want *LockedError naming PID %d", err, cmd.Process.Pid)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait() //nolint:errcheck
	if b, err := os.ReadFile(lockPath(path)); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("the killed holder's lock file: %q, %v; want its PID left behind", b, err)
	}
	db, err := Open(context.Background(), path, Options{Exclusive: true})
	if err != nil {
		t.Fatalf("Open after the holder was killed: %v", err)
	}
	db.Close()
}
