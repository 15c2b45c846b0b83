package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/assets"
)

func newConfigCmd(*rootFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check, show or print an example of the agent's configuration file",
		Long: `The agent's configuration file is JSON; lines starting with // are comments.
'roster agent --config FILE' (or ROSTER_CONFIG=FILE) reads it. Settings come
from, lowest first: built-in defaults, the file, ROSTER_* environment
variables, then 'roster agent' flags.

Start from the example, which documents every setting and its variable:

  roster config example > /etc/roster/config.json
  roster config check /etc/roster/config.json`,
	}
	fileArg := func(args []string) (string, error) {
		if len(args) == 1 {
			return args[0], nil
		}
		if p := os.Getenv("ROSTER_CONFIG"); p != "" {
			return p, nil
		}
		return "", usageError{fmt.Errorf("no configuration file: give its path, or set ROSTER_CONFIG")}
	}
	check := &cobra.Command{
		Use:   "check [FILE]",
		Short: "Report every problem in a configuration file (exit status 2 if any)",
		Long: `Check a configuration file as 'roster agent' would read it: the file over the
defaults, with ROSTER_* environment variables applied. Every problem is
printed, one per line, with the setting's key and what is allowed; the exit
status is 0 when the file is valid and 2 when it is not. FILE defaults to
$ROSTER_CONFIG.`,
		Example: `  roster config check /etc/roster/config.json`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := fileArg(args)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(path)
			if err == nil {
				err = cfg.Validate()
			}
			if err != nil {
				return usageError{config.Invalid(path, err)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (tls mode %s, listen %s)\n", path, cfg.TLSModeName(), cfg.Listen)
			return nil
		},
	}
	show := &cobra.Command{
		Use:   "show [FILE]",
		Short: "Print the effective configuration: defaults, FILE and ROSTER_* variables",
		Long: `Print, as JSON, the configuration 'roster agent --config FILE' would run with
(before its flags): the defaults, overlaid with FILE (if given, else
$ROSTER_CONFIG, else none), overlaid with ROSTER_* environment variables.
Nothing is validated; use 'roster config check' for that.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 || os.Getenv("ROSTER_CONFIG") != "" {
				path, _ = fileArg(args)
			}
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(cfg)
		},
	}
	example := &cobra.Command{
		Use:   "example",
		Short: "Print an example configuration file documenting every setting",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprint(cmd.OutOrStdout(), assets.ExampleConfig)
		},
	}
	cmd.AddCommand(check, show, example)
	return cmd
}
