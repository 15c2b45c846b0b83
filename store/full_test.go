package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fill writes settings rows until the store answers ErrFull: first large
// rows, then small ones, so that no page keeps room for another row.
func fill(t *testing.T, db *DB) error {
	t.Helper()
	ctx := context.Background()
	var last error
	for _, size := range []int{2000, 200, 8} {
		for i := 0; ; i++ {
			if i > 100_000 {
				t.Fatal("the store never became full")
			}
			key := fmt.Sprintf("fill-%d-%06d", size, i)
			err := db.Write(ctx, func(tx *Tx) error { return tx.SetSetting(key, strings.Repeat("x", size)) })
			if err != nil {
				if !errors.Is(err, ErrFull) {
					t.Fatalf("write %s: got %v, want ErrFull", key, err)
				}
				last = err
				break
			}
		}
	}
	return last
}

func TestFullStore(t *testing.T) {
	sqliteOnly(t, "MaxSize is SQLite's max_page_count")
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roster.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	addTenant(t, db, "t1")
	db.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	// The database may not grow beyond a few pages more than it holds now:
	// SQLite answers SQLITE_FULL exactly as on a full disk.
	db, err = Open(ctx, path, Options{MaxSize: st.Size() + 64<<10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.WriteError(); err != nil {
		t.Fatalf("WriteError before any write: %v", err)
	}
	err = fill(t, db)
	if !strings.Contains(err.Error(), "disk holding the database is full") {
		t.Errorf("error %q does not say in plain words that the disk is full", err)
	}
	if got := db.WriteError(); !errors.Is(got, ErrFull) {
		t.Errorf("WriteError after a full write: got %v, want ErrFull", got)
	}
	// Reads still work.
	mustRead(t, db, func(tx *Tx) error { _, err := tx.Tenant("t1"); return err })

	// A batch of writes that fail together all see ErrFull, never a bare
	// rollback error.
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			errs <- db.Write(ctx, func(tx *Tx) error { return tx.SetSetting(fmt.Sprintf("batch-%d", i), strings.Repeat("y", 3000)) })
		}()
	}
	for range 8 {
		if err := <-errs; !errors.Is(err, ErrFull) {
			t.Errorf("write in a full batch: got %v, want ErrFull", err)
		}
	}

	// Space is freed (here: rows deleted); the next write succeeds and the
	// store is writable again.
	mustWrite(t, db, func(tx *Tx) error { _, err := tx.exec(`DELETE FROM settings WHERE key LIKE 'fill-2000-%'`); return err })
	if err := db.WriteError(); err != nil {
		t.Errorf("WriteError after a successful write: %v", err)
	}
	mustWrite(t, db, func(tx *Tx) error { return tx.SetSetting("after", "ok") })
}

// TestOpenOnFullDisk: a first start where not even the schema fits says
// so in plain words.
func TestOpenOnFullDisk(t *testing.T) {
	sqliteOnly(t, "MaxSize is SQLite's max_page_count")
	path := filepath.Join(t.TempDir(), "roster.db")
	_, err := Open(context.Background(), path, Options{MaxSize: 4096})
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Open with no room: got %v, want ErrFull", err)
	}
	for _, want := range []string{path, "disk holding the database is full", "free some space"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open error %q does not mention %q", err, want)
		}
	}
}
