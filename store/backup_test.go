package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestBackupWhileWriting(t *testing.T) {
	sqliteOnly(t, "Backup, Verify and Restore work on a SQLite file; PostgreSQL is backed up with pg_dump")
	db := openTest(t, Options{})
	addTenant(t, db, "t1")
	for i := range 50 {
		insert(t, db, newUser("t1", fmt.Sprintf("u%d", i), fmt.Sprintf("user%d", i)))
	}
	// Writes keep landing while the copy is taken; the copy holds some
	// prefix of them, never a torn one.
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 50; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := newUser("t1", fmt.Sprintf("u%d", i), fmt.Sprintf("user%d", i))
			if err := db.Write(ctx, func(tx *Tx) error { return tx.InsertResource(r) }); err != nil {
				t.Errorf("write during backup: %v", err)
				return
			}
		}
	}()
	dst := filepath.Join(t.TempDir(), "copy.db")
	err := db.Backup(ctx, dst)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if err := Verify(ctx, dst); err != nil {
		t.Fatalf("Verify(copy): %v", err)
	}
	cp, err := Open(ctx, dst, Options{})
	if err != nil {
		t.Fatalf("Open(copy): %v", err)
	}
	defer cp.Close()
	var n int
	if err := cp.Read(ctx, func(tx *Tx) (err error) { n, err = tx.CountResources("t1", KindUser); return }); err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Errorf("copy has %d users, want at least the 50 written before it", n)
	}
	// Every user in the copy is whole: the rows it counts can be read back.
	for i := range n {
		id := fmt.Sprintf("u%d", i)
		if err := cp.Read(ctx, func(tx *Tx) error { _, err := tx.Resource("t1", KindUser, id); return err }); err != nil {
			t.Errorf("copy: user %s: %v (copy must hold a prefix of the writes)", id, err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dst), ".copy.db.partial")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

func TestBackupRefusesExistingFile(t *testing.T) {
	sqliteOnly(t, "Backup, Verify and Restore work on a SQLite file; PostgreSQL is backed up with pg_dump")
	db := openTest(t, Options{})
	dst := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(dst, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := db.Backup(context.Background(), dst)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Backup over an existing file: err = %v, want 'already exists'", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "keep me" {
		t.Errorf("existing file changed to %q", b)
	}
}

func TestVerifyRefusesCorruptAndForeignFiles(t *testing.T) {
	sqliteOnly(t, "Backup, Verify and Restore work on a SQLite file; PostgreSQL is backed up with pg_dump")
	ctx := context.Background()
	db := openTest(t, Options{})
	addTenant(t, db, "t1")
	for i := range 200 {
		insert(t, db, newUser("t1", fmt.Sprintf("u%d", i), strings.Repeat("x", 200)+fmt.Sprint(i)))
	}
	good := filepath.Join(t.TempDir(), "good.db")
	if err := db.Backup(ctx, good); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite the middle pages (b-tree pages of the resources table) with
	// garbage, keeping the header so that SQLite still opens the file.
	bad := filepath.Join(t.TempDir(), "bad.db")
	for i := 4096 * 2; i < len(b)-4096 && i < 4096*6; i++ {
		b[i] = 0xA5
	}
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Verify(ctx, bad); err == nil {
		t.Errorf("Verify(corrupt file) = nil, want an error")
	}

	foreign := filepath.Join(t.TempDir(), "foreign.db")
	f, err := Open(ctx, foreign, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	// A store without its migrations table is not ours.
	if err := Verify(ctx, filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Errorf("Verify(missing file) = nil, want an error")
	}
	notDB := filepath.Join(t.TempDir(), "text.db")
	os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 400)), 0o600)
	if err := Verify(ctx, notDB); err == nil {
		t.Errorf("Verify(text file) = nil, want an error")
	}
}

func TestRestore(t *testing.T) {
	sqliteOnly(t, "Backup, Verify and Restore work on a SQLite file; PostgreSQL is backed up with pg_dump")
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "roster.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	addTenant(t, db, "t1")
	insert(t, db, newUser("t1", "before", "before"))
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := db.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	insert(t, db, newUser("t1", "after", "after"))
	// Restore where an agent was killed: the last write is still only in the
	// WAL (Close would checkpoint it), so take the pair as a crash leaves it.
	dir = t.TempDir()
	live := path
	path = filepath.Join(dir, "roster.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(live + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the crashed store has no WAL to keep (%v): the test would prove nothing", err)
	}

	keep := path + ".before-restore-x"
	kept, err := Restore(ctx, backup, path, keep)
	if err != nil || !kept {
		t.Fatalf("Restore = %v, %v; want kept, nil", kept, err)
	}
	users := func(p string) []string {
		t.Helper()
		db, err := Open(ctx, p, Options{MustExist: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var out []string
		for _, id := range []string{"before", "after"} {
			if err := db.Read(ctx, func(tx *Tx) error { _, err := tx.Resource("t1", KindUser, id); return err }); err == nil {
				out = append(out, id)
			}
		}
		return out
	}
	if got := users(path); strings.Join(got, ",") != "before" {
		t.Errorf("restored store has users %v, want [before]", got)
	}
	if got := users(keep); strings.Join(got, ",") != "before,after" {
		t.Errorf("kept store has users %v, want [before after]", got)
	}
	for _, leftover := range []string{path + "-wal", path + "-shm", filepath.Join(dir, ".roster.db.restoring")} {
		if _, err := os.Stat(leftover); err == nil {
			t.Errorf("%s left behind", leftover)
		}
	}

	t.Run("into an empty data dir", func(t *testing.T) {
		fresh := filepath.Join(t.TempDir(), "new", "roster.db")
		kept, err := Restore(ctx, backup, fresh, fresh+".old")
		if err != nil || kept {
			t.Fatalf("Restore = %v, %v; want not kept, nil", kept, err)
		}
		if got := users(fresh); strings.Join(got, ",") != "before" {
			t.Errorf("users %v, want [before]", got)
		}
	})
	t.Run("refuses a live database", func(t *testing.T) {
		live := filepath.Join(t.TempDir(), "live.db")
		ldb, err := Open(ctx, live, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer ldb.Close()
		addTenant(t, ldb, "t1")
		target := filepath.Join(t.TempDir(), "roster.db")
		if _, err := Restore(ctx, live, target, target+".old"); err == nil || !strings.Contains(err.Error(), "write-ahead log") {
			t.Errorf("Restore(live file) = %v, want a refusal naming its write-ahead log", err)
		}
		if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("target created: %v", err)
		}
	})
	t.Run("refuses a file that is not a Roster database", func(t *testing.T) {
		notDB := filepath.Join(t.TempDir(), "notes.txt")
		os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 400)), 0o600)
		before, _ := os.ReadFile(path)
		if _, err := Restore(ctx, notDB, path, path+".other"); err == nil {
			t.Errorf("Restore(text file) = nil, want an error")
		}
		if after, _ := os.ReadFile(path); string(after) != string(before) {
			t.Errorf("the database changed although the restore was refused")
		}
	})
}
