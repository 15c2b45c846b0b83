package config

import (
	"path/filepath"
	"runtime"
	"testing"
)

// TestDefaultDataDir: ROSTER_DATA_DIR wins, then systemd's
// STATE_DIRECTORY, then (on Linux) $XDG_STATE_HOME/roster.
func TestDefaultDataDir(t *testing.T) {
	env := map[string]string{"ROSTER_DATA_DIR": "/a", "STATE_DIRECTORY": "/b", "XDG_STATE_HOME": "/c"}
	getenv := func(k string) string { return env[k] }
	if got := DefaultDataDir(getenv); got != "/a" {
		t.Errorf("with ROSTER_DATA_DIR: %s", got)
	}
	delete(env, "ROSTER_DATA_DIR")
	if got := DefaultDataDir(getenv); got != "/b" {
		t.Errorf("with STATE_DIRECTORY: %s", got)
	}
	delete(env, "STATE_DIRECTORY")
	if runtime.GOOS == "linux" {
		if got := DefaultDataDir(getenv); got != filepath.Join("/c", "roster") {
			t.Errorf("with XDG_STATE_HOME: %s", got)
		}
		delete(env, "XDG_STATE_HOME")
		if got := DefaultDataDir(getenv); filepath.Base(got) != "roster" && got != "roster-data" {
			t.Errorf("without any: %s", got)
		}
	}
}
