package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDatabaseURL: database.url comes from the file, ROSTER_DATABASE_URL or
// --database (in that order of precedence), must be a PostgreSQL URL, and
// decides what the agent opens; without it, roster.db in the data dir.
func TestDatabaseURL(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := Resolve("", nil, dir, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.StoreLocation("roster.db"), filepath.Join(dir, "roster.db"); got != want {
		t.Errorf("default store = %q, want %q", got, want)
	}
	env["ROSTER_DATABASE_URL"] = "postgres://roster@db1/roster"
	if cfg, err = Resolve("", nil, dir, lookup); err != nil || cfg.StoreLocation("roster.db") != "postgres://roster@db1/roster" {
		t.Errorf("with ROSTER_DATABASE_URL: store %q, %v", cfg.StoreLocation("roster.db"), err)
	}
	if cfg, err = Resolve("", map[string]string{"database": "postgresql://roster@db2/roster"}, dir, lookup); err != nil ||
		cfg.StoreLocation("roster.db") != "postgresql://roster@db2/roster" {
		t.Errorf("with --database: store %q, %v", cfg.StoreLocation("roster.db"), err)
	}
	_, err = Resolve("", map[string]string{"database": "/var/lib/roster/roster.db"}, dir, lookup)
	if err == nil || !strings.Contains(err.Error(), "database.url") {
		t.Errorf("a file path as database.url = %v, want a problem naming database.url", err)
	}
}
