package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/scim/filter"
)

func TestOpenFreshFileMigrates(t *testing.T) {
	db := openTest(t, Options{})
	ctx := context.Background()
	ms, err := testBackend().migrationList()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 1 || ms[0].name != "0001_init.sql" {
		t.Fatalf("embedded migrations = %v, want 0001_init.sql first", ms)
	}
	got, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	if want := len(ms); got != want {
		t.Errorf("SchemaVersion = %d, want %d (every embedded migration)", got, want)
	}
	mustRead(t, db, func(tx *Tx) error {
		for _, table := range []string{"tenants", "tokens", "resources", "members", "events", "settings", "schema_migrations"} {
			if _, err := countRows(tx, table); err != nil {
				t.Errorf("table %s: %v", table, err)
			}
		}
		n, err := countRows(tx, "schema_migrations")
		if err != nil {
			return err
		}
		if n != len(ms) {
			t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
		}
		return nil
	})
}

func TestOpenReopenDoesNotRerunMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "roster.db") // Open creates the directories
	if testBackend().postgres {
		path = testLocation(t)
	}
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got, want := db.Path(), path; got != want {
		t.Errorf("Path() = %q, want %q", got, want)
	}
	type applied struct {
		version int
		name    string
		at      int64
	}
	readMigrations := func(db *DB) []applied {
		var out []applied
		mustRead(t, db, func(tx *Tx) error {
			rows, err := tx.query(`SELECT version, name, applied FROM schema_migrations ORDER BY version`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var a applied
				if err := rows.Scan(&a.version, &a.name, &a.at); err != nil {
					return err
				}
				out = append(out, a)
			}
			return rows.Err()
		})
		return out
	}
	before := readMigrations(db)
	mustWrite(t, db, func(tx *Tx) error { return tx.SetSetting("k", "v") })
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	after := readMigrations(db)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after) != fmt.Sprint(before) || len(after) != len(ms) {
		t.Errorf("schema_migrations after reopen = %v, want %v (one row per migration, unchanged)", after, before)
	}
	if got, err := db.SchemaVersion(ctx); err != nil || got != len(ms) {
		t.Errorf("SchemaVersion after reopen = %d, %v; want %d, nil", got, err, len(ms))
	}
	mustRead(t, db, func(tx *Tx) error {
		got, err := tx.Setting("k")
		if err != nil || got != "v" {
			t.Errorf("Setting(k) after reopen = %q, %v; want %q, nil (data lost or schema recreated)", got, err, "v")
		}
		return nil
	})
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	sqliteOnly(t, "it edits the file with the sqlite driver; TestPostgresRefusesNewerSchema covers PostgreSQL")
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roster.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO schema_migrations(version, name, applied) VALUES (99, '0099_future.sql', 0)`); err != nil {
		t.Fatalf("insert version 99: %v", err)
	}
	raw.Close()

	db, err = Open(ctx, path, Options{})
	if err == nil {
		db.Close()
		t.Fatal("Open of a database at schema version 99 succeeded, want an error")
	}
	for _, want := range []string{"schema version 99", "newer roster"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open error = %q, want it to contain %q", err, want)
		}
	}
}

func TestOpenRejectsUnknownSynchronous(t *testing.T) {
	sqliteOnly(t, "synchronous is a SQLite pragma")
	for _, s := range []string{"bogus", "OFF", "EXTRA"} {
		t.Run(s, func(t *testing.T) {
			db, err := Open(context.Background(), filepath.Join(t.TempDir(), "roster.db"), Options{Synchronous: s})
			if err == nil {
				db.Close()
				t.Fatalf("Open(Synchronous %q) succeeded, want an error", s)
			}
			if !strings.Contains(err.Error(), "synchronous") {
				t.Errorf("error = %q, want it to mention synchronous", err)
			}
		})
	}
}

// pragmas reads the pragmas that Open promises on one connection.
func pragmas(tx *Tx) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range []string{"journal_mode", "foreign_keys", "synchronous", "query_only", "busy_timeout"} {
		var v string
		if err := tx.queryRow(`PRAGMA ` + p).Scan(&v); err != nil {
			return nil, fmt.Errorf("PRAGMA %s: %w", p, err)
		}
		out[p] = v
	}
	return out, nil
}

func TestOpenPragmas(t *testing.T) {
	sqliteOnly(t, "pragmas")
	tests := []struct {
		name string
		opt  Options
		sync string
	}{
		{"default is FULL", Options{Readers: 3}, "2"},
		{"FULL", Options{Readers: 3, Synchronous: "FULL"}, "2"},
		{"NORMAL", Options{Readers: 3, Synchronous: "NORMAL"}, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTest(t, tt.opt)
			check := func(who string, got map[string]string, queryOnly string) {
				t.Helper()
				want := map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": tt.sync, "query_only": queryOnly, "busy_timeout": "10000"}
				for k, w := range want {
					if got[k] != w {
						t.Errorf("%s: PRAGMA %s = %q, want %q", who, k, got[k], w)
					}
				}
			}
			var writer map[string]string
			mustWrite(t, db, func(tx *Tx) (err error) {
				writer, err = pragmas(tx)
				return err
			})
			check("writer", writer, "0")

			// Hold every reader at once (nested Reads) so that each
			// connection of the pool is checked, not one reader n times.
			var readers []map[string]string
			var nest func(depth int) error
			nest = func(depth int) error {
				return db.Read(context.Background(), func(tx *Tx) error {
					p, err := pragmas(tx)
					if err != nil {
						return err
					}
					readers = append(readers, p)
					if depth > 1 {
						return nest(depth - 1)
					}
					return nil
				})
			}
			if err := nest(tt.opt.Readers); err != nil {
				t.Fatalf("Read: %v", err)
			}
			if len(readers) != tt.opt.Readers {
				t.Fatalf("checked %d readers, want %d", len(readers), tt.opt.Readers)
			}
			for i, p := range readers {
				check(fmt.Sprintf("reader %d", i), p, "1")
			}
		})
	}
}

func TestReadRefusesWrites(t *testing.T) {
	db := openTest(t, Options{Readers: 2})
	for i := 0; i < 2; i++ { // every reader of the pool
		err := db.Read(context.Background(), func(tx *Tx) error { return tx.SetSetting("k", "v") })
		if err == nil {
			t.Errorf("write through Read #%d succeeded, want an error (query_only)", i)
		}
	}
	mustRead(t, db, func(tx *Tx) error {
		if v, err := tx.Setting("k"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Setting(k) after writes through Read = %q, %v; want ErrNotFound", v, err)
		}
		return nil
	})
}

// createV1 builds a database at schema version 1 as a roster of that version
// left it: the 0001 schema, and rows whose indexed name columns were
// lower-cased with strings.ToLower (resources.go derive before the switch to
// filter.Fold).
func createV1(t *testing.T, path string, rows func(exec func(query string, args ...any))) {
	t.Helper()
	d := testBackend()
	ms, err := d.migrationList()
	if err != nil {
		t.Fatal(err)
	}
	driver := "sqlite"
	if d.postgres {
		driver = "pgx"
	}
	raw, err := sql.Open(driver, path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := raw.Exec(d.sql(query), d.args(args)...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	exec(d.schemaMigrationsTable())
	exec(ms[0].sql)
	exec(`INSERT INTO schema_migrations(version, name, applied) VALUES (1, ?, 0)`, ms[0].name)
	rows(exec)
}

// TestUpgradeFromVersion1 opens a version-1 database with this roster: what
// was stored before must still be found, and still be unique.
func TestUpgradeFromVersion1(t *testing.T) {
	path := testLocation(t)
	const group, user, userDisplay = "Πωλητές", "Σωκράτης@example.gr", "Γιώργος Παπαδάκης" // Greek words end in ς
	createV1(t, path, func(exec func(string, ...any)) {
		exec(`INSERT INTO tenants(id, name, created) VALUES ('t1', 'T1', 0)`)
		exec(`INSERT INTO resources(tenant_id, kind, id, name_lc, display_name_lc, created, modified, version, doc)
			VALUES ('t1', 'Group', 'g1', ?, ?, 1, 1, 1, ?)`, strings.ToLower(group), strings.ToLower(group), `{"displayName":"`+group+`"}`)
		exec(`INSERT INTO resources(tenant_id, kind, id, name_lc, display_name_lc, created, modified, version, doc)
			VALUES ('t1', 'User', 'u1', ?, ?, 1, 1, 1, ?)`, strings.ToLower(user), strings.ToLower(userDisplay),
			`{"userName":"`+user+`","displayName":"`+userDisplay+`"}`)
		exec(`INSERT INTO events(at, tenant_id, method, path, name, status) VALUES (1, 't1', 'POST', '/Users', 'Bob@Example.com', 201)`)
	})
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("Open a version-1 database: %v", err)
	}
	defer db.Close()
	ms, _ := testBackend().migrationList()
	if v, err := db.SchemaVersion(context.Background()); err != nil || v != len(ms) {
		t.Errorf("SchemaVersion after upgrade = %d, %v; want %d", v, err, len(ms))
	}

	queries := []struct {
		kind   Kind
		filter string
		want   string
	}{
		{KindGroup, `displayName eq "` + group + `"`, "g1"},
		{KindGroup, `displayName eq "ΠΩΛΗΤΈΣ"`, "g1"},
		{KindUser, `userName eq "` + user + `"`, "u1"},
		{KindUser, `displayName eq "` + userDisplay + `"`, "u1"},
	}
	for _, q := range queries {
		expr, err := filter.Parse(q.filter)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		mustRead(t, db, func(tx *Tx) error {
			page, err := tx.Query(Query{TenantID: "t1", Kind: q.kind, Filter: expr, Match: matchFunc(q.kind, expr), Count: -1})
			if err != nil {
				return err
			}
			got = ids(page.Resources)
			return nil
		})
		if len(got) != 1 || got[0] != q.want {
			t.Errorf("%s filter %s on a version-1 row = %v, want [%s]", q.kind, q.filter, got, q.want)
		}
	}
	for _, r := range []*Resource{newGroup("t1", "g2", group), newGroup("t1", "g3", "ΠΩΛΗΤΈΣ"), newUser("t1", "u2", user)} {
		err := db.Write(context.Background(), func(tx *Tx) error { return tx.InsertResource(r) })
		if !errors.Is(err, ErrConflict) {
			t.Errorf("insert %s %q next to the version-1 row: err = %v, want ErrConflict (a duplicate)", r.Kind, r.Doc, err)
		}
	}
	mustRead(t, db, func(tx *Tx) error {
		evs, err := tx.Events(EventQuery{Name: "bob"})
		if err != nil {
			return err
		}
		if len(evs) != 1 {
			t.Errorf("Events(bob) over a version-1 event = %d events, want 1", len(evs))
		}
		return nil
	})
}
