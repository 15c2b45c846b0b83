package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionFrom(t *testing.T) {
	vcs := func(rev, at, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "-trimpath", Value: "true"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: at},
			{Key: "vcs.modified", Value: modified},
		}
	}
	const rev = "f490a3f0123456789abcdef0123456789abcdef0"
	tests := []struct {
		name    string
		ldflags string
		info    *debug.BuildInfo
		want    string
	}{
		{"no build info", "", nil, "dev"},
		{"devel without vcs", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"plain go build, clean", "", &debug.BuildInfo{
			Main:     debug.Module{Version: "v0.0.0-20261207071900-f490a3f01234"},
			Settings: vcs(rev, "2026-12-07T07:19:00Z", "false"),
		}, "dev (f490a3f01234, 2026-12-07T07:19:00Z)"},
		{"plain go build, modified", "", &debug.BuildInfo{
			Main:     debug.Module{Version: "v0.0.0-20261207071900-f490a3f01234+dirty"},
			Settings: vcs(rev, "2026-12-07T07:19:00Z", "true"),
		}, "dev (f490a3f01234, 2026-12-07T07:19:00Z, modified)"},
		{"older go: (devel) with vcs", "", &debug.BuildInfo{
			Main:     debug.Module{Version: "(devel)"},
			Settings: vcs(rev, "2026-12-07T07:19:00Z", "false"),
		}, "dev (f490a3f01234, 2026-12-07T07:19:00Z)"},
		{"tagged checkout", "", &debug.BuildInfo{
			Main:     debug.Module{Version: "v1.2.0+dirty"},
			Settings: vcs(rev, "2026-12-07T07:19:00Z", "true"),
		}, "v1.2.0 (f490a3f01234, 2026-12-07T07:19:00Z, modified)"},
		{"go install @version", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"ldflags win", "v9.9.9", &debug.BuildInfo{
			Main:     debug.Module{Version: "v1.2.0"},
			Settings: vcs(rev, "2026-12-07T07:19:00Z", "true"),
		}, "v9.9.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionFrom(tt.ldflags, tt.info); got != tt.want {
				t.Errorf("versionFrom = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestVersionCommand checks that `roster version` prints buildVersion, which
// reads this binary's own build info.
func TestVersionCommand(t *testing.T) {
	out, _, err := runCLI(t, t.TempDir(), "version")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := debug.ReadBuildInfo()
	want := "roster " + versionFrom(version, info)
	if got := strings.TrimSpace(out); got != want {
		t.Fatalf("roster version = %q, want %q", got, want)
	}
}
