package config

import (
	"os"
	"path/filepath"
	"runtime"
)

// DefaultDataDir is ROSTER_DATA_DIR, else systemd's STATE_DIRECTORY, else the
// per-user state directory: $XDG_STATE_HOME/roster or ~/.local/state/roster on
// Linux, ~/Library/Application Support/roster on macOS, %LocalAppData%\roster
// on Windows. getenv is os.Getenv.
func DefaultDataDir(getenv func(string) string) string {
	if d := getenv("ROSTER_DATA_DIR"); d != "" {
		return d
	}
	if d := getenv("STATE_DIRECTORY"); d != "" {
		return d
	}
	switch runtime.GOOS {
	case "windows":
		if d := getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "roster")
		}
	case "darwin":
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, "Library", "Application Support", "roster")
		}
	}
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "roster")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "roster")
	}
	return "roster-data"
}
