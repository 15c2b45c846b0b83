package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/store"
)

func newChangesCmd(rf *rootFlags) *cobra.Command {
	var (
		tenant, types  string
		after          int64
		follow, asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "changes",
		Short: "Show the change feed: every change to users and groups, in order",
		Long: `Show a tenant's change feed, oldest first: one record for every write that
changed a user or group (docs/change-feed.md). Each record has a seq; pass the
last one you saw as --after to continue. The feed keeps records for
change_retention (30 days by default); asking for older ones is an error that
says to start again from a snapshot ('roster users export').

--json prints one JSON record per line, as the pull API returns them.`,
		Example: `  roster changes
  roster changes --after 1200 --follow
  roster changes --types 'user.*' --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if after < 0 {
				return usageError{fmt.Errorf("--after must be 0 or a seq, not %d", after)}
			}
			f, err := feed.ParseFilter(types)
			if err != nil {
				return usageError{fmt.Errorf("--types: %w", err)}
			}
			dir, _, closeFn, err := openTenant(cmd, rf, tenant, args)
			if err != nil {
				return err
			}
			defer closeFn()
			ctx := cmd.Context() // cancelled on Ctrl-C (main)
			out := cmd.OutOrStdout()
			printed := 0
			err = dir.FollowChanges(ctx, tenant, after, f, follow, func(ch feed.Change) error {
				printed++
				if asJSON {
					b, err := json.Marshal(ch)
					if err != nil {
						return err
					}
					_, err = fmt.Fprintf(out, "%s\n", b)
					return err
				}
				_, err := fmt.Fprintf(out, "%d\t%s\t%-21s\t%s %s\t%s\n", ch.Seq, ch.Time.Local().Format("2006-01-02 15:04:05"), ch.Type,
					ch.Resource.Type, changeName(ch.Resource), changeDetail(ch))
				return err
			})
			if err != nil {
				return err
			}
			if printed == 0 && !asJSON && !follow {
				fmt.Fprintln(out, "No changes after that seq.")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", directory.DefaultTenant, "tenant whose changes to show")
	cmd.Flags().Int64Var(&after, "after", 0, "show the changes after this seq (0: from the oldest kept)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep running and print changes as they happen (Ctrl-C stops)")
	cmd.Flags().StringVar(&types, "types", "", "only these change types, comma-separated, e.g. user.* or group.members_changed")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON record per line")
	return cmd
}

func changeName(r feed.Resource) string {
	if r.UserName != "" {
		return r.UserName
	}
	if r.DisplayName != "" {
		return r.DisplayName
	}
	return r.ID
}

func changeDetail(ch feed.Change) string {
	var parts []string
	if len(ch.Paths) > 0 {
		parts = append(parts, "changed "+strings.Join(ch.Paths, ", "))
	}
	if len(ch.Added) > 0 {
		parts = append(parts, fmt.Sprintf("%d member(s) added", len(ch.Added)))
	}
	if len(ch.Removed) > 0 {
		parts = append(parts, fmt.Sprintf("%d member(s) removed", len(ch.Removed)))
	}
	return strings.Join(parts, "; ")
}

// newExportCmd is `roster users export` and `roster groups export`.
func newExportCmd(rf *rootFlags, kind store.Kind) *cobra.Command {
	var tenant, format string
	what := strings.ToLower(string(kind)) + "s"
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write every " + strings.ToLower(string(kind)) + " of a tenant as CSV or JSON lines",
		Long: `Write every ` + strings.ToLower(string(kind)) + ` of a tenant to standard output, streamed from one
consistent read of the database, in creation order, with no limit.

--format jsonl writes one SCIM document per line (groups with a "members"
array of ids), the same documents the change feed carries; --format csv writes
a header row and one row per ` + strings.ToLower(string(kind)) + `.`,
		Example: "  roster " + what + " export > " + what + ".jsonl\n  roster " + what + " export --format csv --tenant contoso > " + what + ".csv",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != directory.ExportCSV && format != directory.ExportJSONL {
				return usageError{fmt.Errorf("--format must be csv or jsonl, not %q", format)}
			}
			dir, _, closeFn, err := openTenant(cmd, rf, tenant, args)
			if err != nil {
				return err
			}
			defer closeFn()
			_, err = dir.Export(cmd.Context(), tenant, kind, format, cmd.OutOrStdout())
			return err
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", directory.DefaultTenant, "tenant to export")
	cmd.Flags().StringVar(&format, "format", directory.ExportJSONL, "csv or jsonl")
	return cmd
}
