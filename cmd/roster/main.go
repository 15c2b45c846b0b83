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
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "roster:", err)
			os.Exit(2)
		}
		if strings.HasPrefix(err.Error(), "unknown command") {
			fmt.Fprintf(os.Stderr, "roster: %v\nRun 'roster --help' for the commands.\n", err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "roster:", err)
		os.Exit(1)
	}
}

// usageError marks errors caused by how the command was called (exit code 2).
type usageError struct{ error }
