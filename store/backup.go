package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrCorrupt means a database file failed SQLite's integrity check.
var ErrCorrupt = errors.New("database failed its integrity check")

// Backup writes a consistent copy of the whole database to dst while the
// store stays open for reads and writes. It uses VACUUM INTO
// (https://www.sqlite.org/lang_vacuum.html#vacuuminto), which copies one read
// snapshot, so the copy is never a mix of two commits and needs no WAL file
// beside it. dst must not exist; the copy is written next to it under a
// temporary name, checked with PRAGMA integrity_check, synced and renamed
// into place, so a crash leaves either no file or a whole one.
func (db *DB) Backup(ctx context.Context, dst string) error {
	if db.d.postgres {
		return errBackupPostgres
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("backup: %s already exists", dst)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".partial")
	os.Remove(tmp)
	defer os.Remove(tmp)
	// VACUUM INTO must run outside a transaction, on a connection that may
	// write (the readers are query_only). The store's pool holds exactly its
	// writer and readers, so the copy gets a connection of its own; it reads
	// one WAL snapshot and leaves the writer free for the agent's writes.
	c, err := sql.Open("sqlite", dsn(db.path, []string{"busy_timeout(10000)"}))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer c.Close()
	c.SetMaxOpenConns(1)
	if _, err := c.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return fmt.Errorf("backup: %w", mapErr(err))
	}
	// The copy holds the whole directory: readable by its owner only.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := Verify(ctx, tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return syncDir(filepath.Dir(dst))
}

// Verify runs SQLite's integrity check on the database file at path, opened
// read-only, and checks that it is a Roster store (it has the migrations
// table). It returns ErrCorrupt, with SQLite's findings, when the check fails.
func Verify(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	pool, err := sql.Open("sqlite", dsn(path, []string{"query_only(1)"})+"&mode=ro")
	if err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	defer pool.Close()
	rows, err := pool.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	var found []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return fmt.Errorf("verify %s: %w", path, err)
		}
		if s != "ok" {
			found = append(found, s)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	if len(found) > 0 {
		return fmt.Errorf("verify %s: %w: %s", path, ErrCorrupt, strings.Join(found, "; "))
	}
	var n int
	if err := pool.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").Scan(&n); err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	if n == 0 {
		return fmt.Errorf("verify %s: not a Roster database (no schema_migrations table)", path)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Restore puts the backup at src in place of the database at path, which no
// process may have open: it checks src with Verify, copies it next to path,
// checks the copy, and renames it over path, so that path is at every moment
// either the old database or the whole restored one. The old database, when
// there is one, is kept as keep (with its write-ahead log as keep+"-wal", so
// that SQLite still finds the commits not yet checkpointed into the file);
// its shared-memory index is removed: SQLite rebuilds it
// (https://www.sqlite.org/walformat.html#the_wal_index_or_shm_file).
// src must not have a write-ahead log of its own: a file with one is a live
// database, not a backup, and copying it alone could lose commits.
func Restore(ctx context.Context, src, path, keep string) (kept bool, err error) {
	if IsPostgresURL(path) {
		return false, errors.New("restore: the store is a PostgreSQL database; restore it with pg_restore or the server's own backups")
	}
	if fi, err := os.Stat(src + "-wal"); err == nil && fi.Size() > 0 {
		return false, fmt.Errorf("restore: %s has a write-ahead log beside it (%s-wal): it is a database in use, not a backup; take a copy with 'roster backup' instead", src, src)
	}
	if err := Verify(ctx, src); err != nil {
		return false, fmt.Errorf("restore: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("restore: %w", err)
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".restoring")
	os.Remove(tmp)
	defer os.Remove(tmp)
	if err := copyFile(src, tmp); err != nil {
		return false, fmt.Errorf("restore: %w", err)
	}
	if err := Verify(ctx, tmp); err != nil {
		return false, fmt.Errorf("restore: the copy of %s: %w", src, err)
	}
	if _, err := os.Lstat(path); err == nil {
		if _, err := os.Lstat(keep); err == nil {
			return false, fmt.Errorf("restore: %s already exists", keep)
		}
		// A hard link keeps the old file under its new name while path
		// still names it; only the rename below replaces path.
		if err := os.Link(path, keep); err != nil {
			if err := copyFile(path, keep); err != nil {
				return false, fmt.Errorf("restore: keep the current database: %w", err)
			}
		}
		kept = true
		if err := os.Rename(path+"-wal", keep+"-wal"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return kept, fmt.Errorf("restore: keep the current write-ahead log: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("restore: %w", err)
	}
	if err := os.Remove(path + "-shm"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return kept, fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return kept, fmt.Errorf("restore: %w", err)
	}
	return kept, syncDir(dir)
}

// copyFile copies src to a new file dst (mode 0600) and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
