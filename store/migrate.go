package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// migration is one numbered SQL file under migrations/, e.g. 0001_init.sql,
// plus the Go step registered for its version, if any (run after the SQL, in
// the same transaction).
type migration struct {
	version int
	name    string
	sql     string
	step    func(ctx context.Context, tx *sql.Tx, d *dialect) error
}

// goSteps are migration steps that SQL cannot express.
var goSteps = map[int]func(ctx context.Context, tx *sql.Tx, d *dialect) error{
	2: refoldNames,
}

// refoldNames recomputes the case-folded match columns with derive: version 1
// lower-cased with strings.ToLower, which disagrees with filter.Fold for a few
// letters (Greek final ς, Turkish ı, ſ, µ). Two rows that now fold to the same
// name stop the upgrade with an error naming both, rather than leaving
// duplicates that Entra could never match.
func refoldNames(ctx context.Context, tx *sql.Tx, d *dialect) error {
	rows, err := tx.QueryContext(ctx, `SELECT seq, tenant_id, kind, id, doc FROM resources`)
	if err != nil {
		return err
	}
	type row struct {
		seq          int64
		tenant, kind string
		id           string
		ix           indexed
	}
	var all []row
	for rows.Next() {
		var r row
		var doc []byte
		if err := rows.Scan(&r.seq, &r.tenant, &r.kind, &r.id, &doc); err != nil {
			rows.Close()
			return err
		}
		var m map[string]any
		if err := json.Unmarshal(doc, &m); err != nil {
			rows.Close()
			return fmt.Errorf("%s %s: %w", r.kind, r.id, err)
		}
		if r.ix, err = derive(Kind(r.kind), m); err != nil {
			rows.Close()
			return fmt.Errorf("%s %s: %w", r.kind, r.id, err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	seen := map[string]string{}
	for _, r := range all {
		key := r.tenant + "\x00" + r.kind + "\x00" + r.ix.nameLC
		if other, dup := seen[key]; dup {
			return fmt.Errorf("tenant %s: %ss %s and %s have the same name when compared case-insensitively (%q); rename one with the previous roster version, then upgrade",
				r.tenant, strings.ToLower(r.kind), other, r.id, r.ix.nameLC)
		}
		seen[key] = r.id
	}
	// Clear first so that rows swapping folded names never collide midway.
	if _, err := tx.ExecContext(ctx, `UPDATE resources SET name_lc = '\x01' || seq`); err != nil {
		return err
	}
	for _, r := range all {
		if _, err := tx.ExecContext(ctx, d.sql(`UPDATE resources SET name_lc = ?, work_email_lc = ?, display_name_lc = ? WHERE seq = ?`),
			d.args([]any{r.ix.nameLC, r.ix.workEmailLC, r.ix.displayNameLC, r.seq})...); err != nil {
			return fmt.Errorf("%s %s: %w", r.kind, r.id, err)
		}
	}
	return nil
}

// migrations returns the SQLite migrations.
func migrations() ([]migration, error) { return sqliteDialect.migrationList() }

// migrationList returns the dialect's migrations, in order: SQLite's in
// migrations/, PostgreSQL's in migrations/postgres/, with the same numbers
// and names.
func (d *dialect) migrationList() ([]migration, error) {
	entries, err := migrationFS.ReadDir(d.migrations)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and _", e.Name())
		}
		b, err := migrationFS.ReadFile(d.migrations + "/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b), step: goSteps[v]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := range out {
		if out[i].version != i+1 {
			return nil, fmt.Errorf("migrations must be numbered 1, 2, 3…; found %s at position %d", out[i].name, i+1)
		}
	}
	return out, nil
}

// migrate applies, in order and each in its own transaction, the embedded
// migrations newer than the version recorded in schema_migrations. With
// mustExist (PostgreSQL only; a SQLite file's absence is checked by Open),
// a database without the table is ErrNoDatabase.
func migrate(ctx context.Context, db *sql.Conn, d *dialect, mustExist bool) error {
	if d.postgres {
		unlock, err := lockMigrations(ctx, db, mustExist)
		if err != nil {
			return err
		}
		defer unlock()
	}
	if _, err := db.ExecContext(ctx, d.schemaMigrationsTable()); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	ms, err := d.migrationList()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("migrate: the database is at schema version %d but this roster knows only %d; use a newer roster", current, len(ms))
	}
	for _, m := range ms[current:] {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback() //nolint:errcheck
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if m.step != nil {
			if err := m.step(ctx, tx, d); err != nil {
				tx.Rollback() //nolint:errcheck
				return fmt.Errorf("migrate %s: %w", m.name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, d.sql(`INSERT INTO schema_migrations(version, name, applied) VALUES (?, ?, ?)`), m.version, m.name, time.Now().UnixNano()); err != nil {
			tx.Rollback() //nolint:errcheck
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
	}
	return nil
}

// SchemaVersion returns the schema version the database is at.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.Read(ctx, func(tx *Tx) error {
		return tx.queryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	})
	return v, err
}
