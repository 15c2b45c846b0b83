package main

import (
	"encoding/json"
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
		follow              bool
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
			if follow {
				return followEvents(cmd, dir, q, asJSON)
			}
			evs, err := dir.Events(cmd.Context(), q)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSONList(cmd.OutOrStdout(), evs, eventJSON)
			}
			if len(evs) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "No provisioning events match.")
				return nil
			}
			tw := newTable(cmd.OutOrStdout())
			fmt.Fprintln(tw, eventHeader)
			for _, e := range evs {
				fmt.Fprintln(tw, eventLine(e))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "only this tenant")
	cmd.Flags().StringVar(&user, "user", "", "only events whose userName/displayName contains this text, or whose resource id is this")
	cmd.Flags().StringVar(&since, "since", "", "only events newer than this, e.g. 24h or 7d")
	cmd.Flags().BoolVar(&failed, "failed", false, "only rejected requests (status 400 and above; not those whose client went away)")
	cmd.Flags().IntVar(&limit, "limit", 200, "at most this many (the newest)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (with --follow, one object per line)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep running and print new events as the agent records them (Ctrl-C stops)")
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

const eventHeader = "TIME\tTENANT\tTOKEN\tREQUEST\tSTATUS\tRESOURCE\tOUTCOME"

func eventLine(e *store.Event) string {
	res := strings.TrimSpace(e.ResourceType + " " + e.Name)
	return fmt.Sprintf("%s\t%s\t%s\t%s %s\t%d\t%s\t%s", e.At.Local().Format("2006-01-02 15:04:05"), e.TenantID, dash(e.TokenName),
		e.Method, e.Path, e.Status, dash(res), directory.Outcome(e))
}

func eventJSON(e *store.Event) map[string]any {
	return map[string]any{"time": e.At.Format(time.RFC3339Nano), "tenant": e.TenantID, "token": e.TokenName,
		"method": e.Method, "path": e.Path, "resource_type": e.ResourceType, "resource_id": e.ResourceID, "name": e.Name,
		"status": e.Status, "scim_type": e.ScimType, "detail": e.Detail, "duration_ms": float64(e.Duration.Microseconds()) / 1000,
		"outcome": eventOutcome(e), "count": e.Count}
}

// followEvents prints the matching events, then new ones as they come,
// until Ctrl-C: tab-separated lines, or one JSON object per line.
func followEvents(cmd *cobra.Command, dir *directory.Service, q store.EventQuery, asJSON bool) error {
	out := cmd.OutOrStdout()
	if !asJSON {
		fmt.Fprintln(out, eventHeader)
	}
	return dir.FollowEvents(cmd.Context(), q, func(evs []*store.Event) error {
		for _, e := range evs {
			if asJSON {
				b, err := json.Marshal(eventJSON(e))
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "%s\n", b)
				continue
			}
			fmt.Fprintln(out, eventLine(e))
		}
		return nil
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
