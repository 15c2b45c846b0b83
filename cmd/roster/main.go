// Command roster is Roster's single binary: the SCIM agent that Microsoft
// Entra ID provisions users and groups into, and the commands that manage it.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…" and then
// wins over everything the build info says.
var version = ""

// buildVersion is the version that `roster version` and the agent's log
// report: the -ldflags version if set, else one from the build info.
func buildVersion() string {
	info, _ := debug.ReadBuildInfo()
	return versionFrom(version, info)
}

// pseudoVersion matches the timestamp and revision part of a Go
// pseudo-version (https://go.dev/ref/mod#pseudo-versions).
var pseudoVersion = regexp.MustCompile(`\d{14}-[0-9a-f]{12}`)

// versionFrom builds the version string from the -ldflags value and the
// build info. A plain `go build` in a git checkout stamps vcs.revision,
// vcs.time and vcs.modified (https://pkg.go.dev/runtime/debug#BuildSetting),
// giving e.g. "dev (f490a3f12345, 2026-12-07T07:19:00Z, modified)"; a
// `go install …@v1.2.3` gives "v1.2.3". Without either it is "dev".
func versionFrom(ldflags string, info *debug.BuildInfo) string {
	if ldflags != "" {
		return ldflags
	}
	if info == nil {
		return "dev"
	}
	base := "dev"
	if v := info.Main.Version; v != "" && v != "(devel)" && !pseudoVersion.MatchString(v) {
		base = strings.TrimSuffix(v, "+dirty")
	}
	var rev, at string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return base
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	parts := []string{rev}
	if at != "" {
		parts = append(parts, at)
	}
	if modified {
		parts = append(parts, "modified")
	}
	return base + " (" + strings.Join(parts, ", ") + ")"
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd().ExecuteContext(ctx)
	code := exitCode(err)
	var att attentionError
	switch {
	case err == nil:
	case errors.As(err, &att):
		// The command printed what needs attention; only the code is left.
	case code == exitUsage && strings.HasPrefix(err.Error(), "unknown command"):
		fmt.Fprintf(os.Stderr, "roster: %v\nRun 'roster --help' for the commands.\n", err)
	default:
		fmt.Fprintln(os.Stderr, "roster:", err)
	}
	os.Exit(code)
}

// Exit codes, the same in every command.
const (
	exitOK    = 0
	exitError = 1 // the command failed, e.g. an unknown tenant or a missing data dir
	exitUsage = 2 // the command was called wrongly: a bad flag, argument or value
	// exitAttention: the command ran, and what it reports needs someone to
	// act (`roster status`).
	exitAttention = 3
)

// usageError marks errors caused by how the command was called (exit code 2).
type usageError struct{ error }

// attentionError ends a command that ran and printed its report, with exit
// code 3 because the report asks for action.
type attentionError struct{ n int }

func (e attentionError) Error() string { return fmt.Sprintf("%d thing(s) need attention", e.n) }

// exitCode maps a command's error to the process's exit code.
func exitCode(err error) int {
	var ue usageError
	var att attentionError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &att):
		return exitAttention
	case errors.As(err, &ue), strings.HasPrefix(err.Error(), "unknown command"):
		return exitUsage
	}
	return exitError
}
