package pgtest

import (
	"context"
	"database/sql"
	"os"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestNewGivesSeparateDatabases checks that each test gets its own empty,
// writable database on one cluster.
func TestNewGivesSeparateDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := New(t), New(t)
	if a == b {
		t.Fatalf("New returned the same URL twice: %s", a)
	}
	da, err := sql.Open("pgx", a)
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	db, err := sql.Open("pgx", b)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := da.ExecContext(ctx, `CREATE TABLE x (v int); INSERT INTO x VALUES (1)`); err != nil {
		t.Fatalf("write to the first database: %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'x'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the second database sees the first one's table")
	}
	var user string
	if err := da.QueryRowContext(ctx, `SELECT current_user`).Scan(&user); err != nil || user != "roster" {
		t.Errorf("current_user = %q, %v; want roster", user, err)
	}
}

// TestStopAndRestart checks that Stop ends the server (its port refuses
// connections) and that New starts a new cluster afterwards.
func TestStopAndRestart(t *testing.T) {
	u := New(t)
	mu.Lock()
	c := running
	mu.Unlock()
	if c == nil {
		t.Fatal("no cluster after New")
	}
	Stop()
	select {
	case <-c.exited:
	default:
		t.Fatal("postgres still running after Stop")
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory %s left after Stop: %v", c.dir, err)
	}
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PingContext(context.Background()); err == nil {
		t.Errorf("the stopped cluster still answers")
	}
	u2 := New(t)
	d2, err := sql.Open("pgx", u2)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if err := d2.PingContext(context.Background()); err != nil {
		t.Fatalf("after Stop, New's cluster does not answer: %v", err)
	}
}
