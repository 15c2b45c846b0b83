package store

import (
	"context"
	"database/sql"
	"fmt"
)

// schemaMigrationsTable is the statement creating the table of applied
// migrations, in the dialect's types.
func (d *dialect) schemaMigrationsTable() string {
	if d.postgres {
		return `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied BIGINT NOT NULL)`
	}
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied INTEGER NOT NULL) STRICT`
}

// migrationLockKey is the PostgreSQL advisory lock
// (https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS)
// that agents starting together on one database take, so that exactly one
// of them applies the pending migrations and the others then find them
// applied. The number is arbitrary ("roster" in ASCII).
const migrationLockKey = 0x726f73746572

// lockMigrations takes the migration lock on c for the session; the
// returned function releases it. With mustExist, a database without the
// migrations table is ErrNoDatabase (nothing is created).
func lockMigrations(ctx context.Context, c *sql.Conn, mustExist bool) (func(), error) {
	if mustExist {
		var exists bool
		if err := c.QueryRowContext(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		if !exists {
			return nil, ErrNoDatabase
		}
	}
	if _, err := c.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return nil, fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	return func() {
		c.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, migrationLockKey) //nolint:errcheck
	}, nil
}
