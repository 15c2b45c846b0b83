package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/store"
)

func newLogCmd(rf *rootFlags) *cobra.Command {
	var (
		tenant, user, since string
		failed, asJSON      bool
		limit               int
	)
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Show provisioning events: every SCIM write and every rejected request",
		Long: `Show provisioning events, oldest first: every write Entra (or another client)
made, and every request the agent rejected, with the outcome and the reason.`,
		Example: `  roster log --since 24h
  roster log --failed
  roster log --user alice@contoso.com --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := store.EventQuery{TenantID: tenant, Name: user, Failed: failed, Limit: limit}
			if since != "" {
				d, err := parseDays(since)
				if err != nil {
					return usageError{fmt.Errorf("--since: %w", err)}
				}
				q.Since = time.Now().Add(-d)
			}
			dir, closeFn, err := rf.openExisting(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			evs, err := dir.Events(cmd.Context(), q)
			if err != nil {
				return err
			}
			if asJSON {
				out := []map[string]any{}
				for _, e := range evs {
					out = append(out, map[string]any{"time": e.At.Format(time.RFC3339Nano), "tenant": e.TenantID, "token": e.TokenName,
						"method": e.Method, "path": e.Path, "resource_type": e.ResourceType, "resource_id": e.ResourceID, "name": e.Name,
						"status": e.Status, "scim_type": e.ScimType, "detail": e.Detail, "duration_ms": float64(e.Duration.Microseconds()) / 1000,
						"outcome": eventOutcome(e), "count": e.Count})
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			if len(evs) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "No provisioning events match.")
				return nil
			}
			tw := newTable(cmd.OutOrStdout())
			fmt.Fprintln(tw, "TIME\tTENANT\tTOKEN\tREQUEST\tSTATUS\tRESOURCE\tOUTCOME")
			for _, e := range evs {
				res := strings.TrimSpace(e.ResourceType + " " + e.Name)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%d\t%s\t%s\n", e.At.Local().Format("2006-01-02 15:04:05"), e.TenantID, dash(e.TokenName),
					e.Method, e.Path, e.Status, dash(res), directory.Outcome(e))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "only this tenant")
	cmd.Flags().StringVar(&user, "user", "", "only events whose userName/displayName contains this text, or whose resource id is this")
	cmd.Flags().StringVar(&since, "since", "", "only events newer than this, e.g. 24h or 7d")
	cmd.Flags().BoolVar(&failed, "failed", false, "only rejected requests (status 400 and above; not those whose client went away)")
	cmd.Flags().IntVar(&limit, "limit", 200, "at most this many (the newest)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// eventOutcome names an event's outcome: ok, failed or cancelled.
func eventOutcome(e *store.Event) string {
	switch {
	case e.Outcome != "":
		return e.Outcome
	case e.Failed():
		return "failed"
	}
	return "ok"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
