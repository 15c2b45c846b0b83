package dbstorage

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestImportFiles(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "certmagic")
	files := map[string]string{
		"certificates/ca-dir/example.com/example.com.crt": "CERT",
		"certificates/ca-dir/example.com/example.com.key": "KEY",
		"acme/ca-dir/users/admin@example.com/admin.json":  "ACCOUNT",
		"locks/issue_cert_example.com.lock":               "LOCK", // never imported
		"last_clean.json":                                 "FROM FILE",
	}
	mtime := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for k, v := range files {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	s := New(openDB(t, t.TempDir()), Options{})
	// What the database has already (another agent stored it) stays.
	if err := s.Store(ctx, "last_clean.json", []byte("IN DATABASE")); err != nil {
		t.Fatal(err)
	}
	n, err := s.ImportFiles(ctx, dir)
	if err != nil || n != 3 {
		t.Fatalf("ImportFiles = %d, %v; want 3 keys", n, err)
	}
	for k, want := range map[string]string{
		"certificates/ca-dir/example.com/example.com.crt": "CERT",
		"certificates/ca-dir/example.com/example.com.key": "KEY",
		"acme/ca-dir/users/admin@example.com/admin.json":  "ACCOUNT",
		"last_clean.json": "IN DATABASE",
	} {
		if v, err := s.Load(ctx, k); err != nil || string(v) != want {
			t.Errorf("Load(%s) = %q, %v; want %q", k, v, err, want)
		}
	}
	if ki, err := s.Stat(ctx, "certificates/ca-dir/example.com/example.com.crt"); err != nil || !ki.Modified.Equal(mtime) {
		t.Errorf("imported key's time = %v, %v; want the file's %v", ki.Modified, err, mtime)
	}
	if keys, _ := s.List(ctx, "", false); slices.Contains(keys, "locks") {
		t.Errorf("lock files were imported: %q", keys)
	}

	// Once per database: a later call imports nothing, even new files.
	if err := os.WriteFile(filepath.Join(dir, "new.json"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "certificates"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ImportFiles(ctx, dir); err != nil || n != 0 {
		t.Errorf("second ImportFiles = %d, %v; want 0", n, err)
	}
	if s.Exists(ctx, "new.json") || s.Exists(ctx, "certificates") {
		t.Error("the second ImportFiles copied files")
	}

	// No certmagic folder (a new installation): nothing, no error, and done.
	s2 := New(openDB(t, t.TempDir()), Options{})
	missing := filepath.Join(t.TempDir(), "certmagic")
	if n, err := s2.ImportFiles(ctx, missing); err != nil || n != 0 {
		t.Errorf("ImportFiles of a missing folder = %d, %v", n, err)
	}
	if err := os.MkdirAll(missing, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(missing, "late.json"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := s2.ImportFiles(ctx, missing); err != nil || n != 0 {
		t.Errorf("ImportFiles after a first start without files = %d, %v; want 0", n, err)
	}
}
