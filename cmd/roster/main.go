// Command roster is Roster's single binary: the SCIM agent that Microsoft
// Entra ID provisions users and groups into, and the commands that manage it.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
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
