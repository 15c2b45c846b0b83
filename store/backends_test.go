package store

import (
	"context"
	"testing"

	"github.com/rosterhq/roster/internal/pgtest"
)

// The store's tests run once per backend: TestMain runs the whole suite on
// SQLite, then again on PostgreSQL (pgtest.MainBackends: a throwaway
// cluster, a fresh database per test; ROSTER_TEST_BACKENDS selects the
// passes). Tests of what exists only on SQLite (its file, lock file, VACUUM
// INTO, max_page_count) call sqliteOnly and skip on PostgreSQL.

// testBackend is the dialect of the pass running.
func testBackend() *dialect {
	if pgtest.Postgres() {
		return postgresDialect
	}
	return sqliteDialect
}

// testLocation returns where a test's store lives: a new file path in a
// temporary directory, or the URL of a new, empty PostgreSQL database.
func testLocation(t testing.TB) string {
	t.Helper()
	return pgtest.Location(t)
}

// sqliteOnly skips a test on the PostgreSQL pass, saying why.
func sqliteOnly(t testing.TB, why string) {
	t.Helper()
	if pgtest.Postgres() {
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
