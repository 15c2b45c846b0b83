package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResolve: file, then environment, then overrides; the data dir
// fallback; problems named by their source; unknown override names refused.
func TestResolve(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(`{"listen":"127.0.0.1:9000","log":{"level":"debug"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ROSTER_LOG_LEVEL": "warn"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	cfg, err := Resolve(path, map[string]string{"public-url": "https://scim.example.com/", RetentionOverride: "7"}, dir, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9000" || cfg.Log.Level != "warn" || cfg.PublicURL != "https://scim.example.com" ||
		cfg.EventRetentionDays != 7 || cfg.DataDir != dir {
		t.Errorf("Resolve = listen %q level %q public %q retention %d data %q", cfg.Listen, cfg.Log.Level, cfg.PublicURL, cfg.EventRetentionDays, cfg.DataDir)
	}
	if cfg, err := Resolve(path, map[string]string{"listen": "127.0.0.1:9001", "data-dir": "/srv/roster"}, dir, lookup); err != nil ||
		cfg.Listen != "127.0.0.1:9001" || cfg.DataDir != "/srv/roster" {
		t.Errorf("Resolve with listen and data-dir = %q %q, %v", cfg.Listen, cfg.DataDir, err)
	}
	for _, n := range OverrideNames() {
		if _, ok := overrides[n]; !ok {
			t.Errorf("OverrideNames lists %q, which Resolve does not know", n)
		}
	}

	var ie *InvalidError
	_, err = Resolve(path, map[string]string{"log-level": "loud"}, dir, lookup)
	if !errors.As(err, &ie) || ie.Source != path || !strings.HasPrefix(err.Error(), path+": 1 invalid setting(s):\n  ") {
		t.Errorf("Resolve with a bad level = %v, want problems naming %s", err, path)
	}
	var ps Problems
	if !errors.As(err, &ps) || ps[0].Field != "log.level" {
		t.Errorf("the problems are not unwrapped: %v", err)
	}
	if _, err = Resolve("", map[string]string{"log-level": "loud"}, dir, lookup); !errors.As(err, &ie) || ie.Source != "configuration" {
		t.Errorf("Resolve without a file = %v, want the source configuration", err)
	}
	env["ROSTER_EVENT_RETENTION_DAYS"] = "many"
	if _, err = Resolve(path, nil, dir, lookup); !errors.As(err, &ie) || ie.Source != "the environment" {
		t.Errorf("Resolve with ROSTER_EVENT_RETENTION_DAYS=many = %v, want problems of the environment", err)
	}
	if err := Invalid("x", ie); err != ie {
		t.Errorf("Invalid renamed an *InvalidError: %v", err)
	}
	if _, err := Resolve(path, map[string]string{"colour": "blue"}, dir, lookup); err == nil {
		t.Error("Resolve with an unknown setting = nil")
	}
	if _, err := Resolve(path, map[string]string{RetentionOverride: "x"}, dir, lookup); err == nil {
		t.Error("Resolve with a retention that is not a number = nil")
	}
	if _, err := LoadEnv(filepath.Join(dir, "missing.json"), lookup); err == nil {
		t.Error("LoadEnv of a missing file = nil")
	}
}
