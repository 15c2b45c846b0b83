package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rosterhq/roster/internal/pgtest"
)

// The store's tests run once per backend: TestMain runs the whole suite on
// SQLite, then again on PostgreSQL (a throwaway cluster from
// internal/pgtest, a fresh database per test). ROSTER_STORE_BACKENDS
// selects them ("sqlite", "postgres"; default both). Tests of what exists
// only on SQLite (its file, lock file, VACUUM INTO, max_page_count) call
// sqliteOnly and skip on PostgreSQL.

// testBackend is the dialect of the pass running.
var testBackend = sqliteDialect

func runBackends(m *testing.M) int {
	backends := os.Getenv("ROSTER_STORE_BACKENDS")
	if backends == "" {
		backends = "sqlite,postgres"
	}
	code := 0
	for _, b := range strings.Split(backends, ",") {
		switch strings.TrimSpace(b) {
		case "sqlite":
			testBackend = sqliteDialect
		case "postgres":
			testBackend = postgresDialect
			if ok, why := pgtest.Available(); !ok {
				fmt.Println("store: skipping the PostgreSQL pass:", why)
				continue
			}
		default:
			fmt.Fprintf(os.Stderr, "ROSTER_STORE_BACKENDS: unknown backend %q (sqlite, postgres)\n", b)
			return 2
		}
		fmt.Printf("=== store tests on %s\n", testBackend.name)
		if c := m.Run(); c != 0 {
			code = c
		}
	}
	pgtest.Stop()
	return code
}

// testLocation returns where a test's store lives: a new file path in a
// temporary directory, or the URL of a new, empty PostgreSQL database.
func testLocation(t testing.TB) string {
	t.Helper()
	if testBackend.postgres {
		t.Logf("backend: postgres")
		return pgtest.New(t)
	}
	return filepath.Join(t.TempDir(), "roster.db")
}

// sqliteOnly skips a test on the PostgreSQL pass, saying why.
func sqliteOnly(t testing.TB, why string) {
	t.Helper()
	if testBackend.postgres {
		t.Skip("SQLite only: " + why)
	}
}

// openTwoAgents opens a fresh store and a second store on the same
// database, as a second agent (or a command beside the agent) would.
func openTwoAgents(t *testing.T) (*DB, *DB) {
	t.Helper()
	db := openTest(t, Options{})
	other, err := Open(context.Background(), db.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return db, other
}
