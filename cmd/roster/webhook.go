package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/agent/webhook"
	"github.com/rosterhq/roster/store"
)

func webhookJSON(w *store.Webhook) map[string]any {
	types := []string{}
	if w.Types != "" {
		types = strings.Split(w.Types, ",")
	}
	cursor := any(w.Cursor)
	if w.Cursor == store.WebhookFromNow {
		cursor = nil
	}
	return map[string]any{"id": w.ID, "tenant": w.TenantID, "url": w.URL, "types": types, "format": w.Format,
		"created": w.Created.UTC().Format(time.RFC3339), "state": w.State, "cursor": cursor,
		"failing_since": fmtTime(w.FailingSince), "detail": w.Detail}
}

func deliveryJSON(d store.WebhookDelivery) map[string]any {
	return map[string]any{"webhook": d.WebhookID, "seq": d.Seq, "webhook_id": d.ChangeID, "attempt": d.Attempt,
		"time": d.Time.UTC().Format(time.RFC3339Nano), "status": d.Status, "error": d.Error, "duration_ms": d.Duration.Milliseconds()}
}

func newWebhookCmd(rf *rootFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Send every change of the directory to your systems as signed webhooks",
		Long: `Send every change of a tenant's directory (users and groups created, updated,
deactivated, deleted; group members added and removed) to an HTTP endpoint of
your own, as Standard Webhooks: one POST per change, signed with HMAC-SHA256
(headers webhook-id, webhook-timestamp, webhook-signature).

The agent delivers each endpoint's changes in order, at least once: a receiver
deduplicates by webhook-id. A failed delivery is retried with exponential
back-off for up to 3 days, honouring Retry-After; then the endpoint is marked
failing ('roster status' says so) until 'roster webhook replay'. Redirects are
not followed; TLS certificates are verified (webhooks.ca_file in the agent's
configuration adds a private CA).

A running agent picks up changes made with these commands within 2 seconds.
See docs/webhooks.md for the payloads and a receiver that verifies signatures.`,
	}
	var (
		tenant, listTenant, types, format, caFile string
		asJSON, allowHTTP, failed                 bool
		from                                      int64
		limit                                     int
	)
	add := &cobra.Command{
		Use:   "add URL",
		Short: "Add an endpoint and print its id and signing secret (shown once)",
		Example: "  roster webhook add https://hr.example.com/roster-hook\n" +
			"  roster webhook add https://iam.example.com/hook --tenant tokyo --types user.*,group.deleted --json\n" +
			"  roster webhook add https://iam.example.com/events --format scim-set",
		Args: exactArgs(1, "the receiver's URL, e.g. 'roster webhook add https://hr.example.com/roster-hook'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := feed.ParseFilter(types); err != nil {
				return usageError{fmt.Errorf("--types: %w", err)}
			}
			if _, err := webhook.ParseFormat(format); err != nil {
				return usageError{fmt.Errorf("--format: %w", err)}
			}
			dir, closeFn, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			w, err := dir.AddWebhook(cmd.Context(), directory.NewWebhook{Tenant: tenant, URL: args[0], Types: types, Format: format, AllowHTTP: allowHTTP})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"id": w.ID, "secret": w.Secret, "tenant": w.TenantID, "url": w.URL, "format": w.Format})
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Added webhook %s for tenant %q: %s\n\n", w.ID, w.TenantID, w.URL)
			fmt.Fprintf(out, "Signing secret (shown only now; give it to the receiver):\n\n  %s\n\n", w.Secret)
			fmt.Fprintf(out, "It receives the changes made from now on. Send a signed test event with\n'roster webhook test %s'; send older changes with 'roster webhook replay %s --from SEQ'.\n", w.ID, w.ID)
			return nil
		},
	}
	add.Flags().StringVar(&tenant, "tenant", directory.DefaultTenant, "tenant whose changes the endpoint receives")
	add.Flags().StringVar(&types, "types", "", "only these change types, comma-separated: e.g. user.*,group.deleted (default: all; one of "+strings.Join(feed.Types, ", ")+")")
	add.Flags().StringVar(&format, "format", webhook.FormatJSON, "payload: json (the change record) or scim-set (an RFC 9967 Security Event Token)")
	add.Flags().BoolVar(&allowHTTP, "allow-http", false, "accept a plain http:// URL that is not on this machine (deliveries carry the directory: prefer https)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List endpoints with their state, position in the change log and last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runList(cmd, rf, asJSON,
				func(ctx context.Context, dir *directory.Service) ([]*store.Webhook, error) {
					return dir.Webhooks(ctx, listTenant)
				},
				webhookJSON,
				func(out io.Writer, _ *directory.Service, ws []*store.Webhook) error {
					if len(ws) == 0 {
						fmt.Fprintln(out, "No webhooks. Add one with 'roster webhook add URL'.")
						return nil
					}
					tw := newTable(out)
					fmt.Fprintln(tw, "ID\tTENANT\tURL\tTYPES\tFORMAT\tSTATE\tDELIVERED TO SEQ\tDETAIL")
					for _, w := range ws {
						t, c := w.Types, strconv.FormatInt(w.Cursor, 10)
						if t == "" {
							t = "*"
						}
						if w.Cursor == store.WebhookFromNow {
							c = "-"
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", w.ID, w.TenantID, w.URL, t, w.Format, w.State, c, w.Detail)
					}
					return tw.Flush()
				})
		},
	}
	list.Flags().StringVar(&listTenant, "tenant", "", "only this tenant's endpoints")

	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove an endpoint and its delivery log",
		Args:  exactArgs(1, "an id from 'roster webhook list'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, closeFn, err := rf.openExisting(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			w, err := dir.RemoveWebhook(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"removed": w.ID, "url": w.URL})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed webhook %s (%s).\n", w.ID, w.URL)
			return nil
		},
	}

	test := &cobra.Command{
		Use:   "test ID",
		Short: "Send a signed test event (type webhook.test) now and show the answer",
		Args:  exactArgs(1, "an id from 'roster webhook list'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ca []byte
			if caFile != "" {
				var err error
				if ca, err = os.ReadFile(caFile); err != nil {
					return usageError{fmt.Errorf("--ca-file: %w", err)}
				}
			}
			client, err := webhook.NewClient(ca, 0)
			if err != nil {
				return usageError{fmt.Errorf("--ca-file: %w", err)}
			}
			dir, closeFn, err := rf.openExisting(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			w, err := dir.Webhook(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			now := time.Now()
			c, a, logged, err := webhook.SendTest(cmd.Context(), client, w, now)
			if err != nil {
				return err
			}
			if err := dir.LogWebhookDeliveries(cmd.Context(), w.ID, []store.WebhookDelivery{logged}); err != nil {
				return err
			}
			if asJSON {
				out := map[string]any{"webhook": w.ID, "webhook_id": c.ID, "ok": a.OK(), "status": a.Status, "duration_ms": a.Duration.Milliseconds(), "error": ""}
				if a.Err != nil {
					out["error"] = a.Err.Error()
				}
				if err := printJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
			}
			if !a.OK() {
				return fmt.Errorf("the test event %s to %s failed: %w", c.ID, w.URL, a.Err)
			}
			if !asJSON {
				fmt.Fprintf(cmd.OutOrStdout(), "Delivered test event %s to %s: %d in %s.\n", c.ID, w.URL, a.Status, a.Duration.Round(time.Millisecond))
			}
			return nil
		},
	}
	test.Flags().StringVar(&caFile, "ca-file", os.Getenv("ROSTER_WEBHOOKS_CA_FILE"), "PEM file of extra roots to trust for the receiver's certificate (env ROSTER_WEBHOOKS_CA_FILE)")

	replay := &cobra.Command{
		Use:   "replay ID",
		Short: "Resume a failing endpoint, or send it every change from --from SEQ on again",
		Long: `Make an endpoint active again. Without --from it resumes where it stopped
(the change that failed is sent again); with --from SEQ it receives every change
from that seq on again, in order, as long as the change log still holds it.
Receivers deduplicate by webhook-id, so a replay is safe.`,
		Example: "  roster webhook replay wh_0123…\n  roster webhook replay wh_0123… --from 1",
		Args:    exactArgs(1, "an id from 'roster webhook list'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from < 0 {
				return usageError{fmt.Errorf("--from must be a seq of 1 or more, not %d", from)}
			}
			dir, closeFn, err := rf.openExisting(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			w, err := dir.ReplayWebhook(cmd.Context(), args[0], from)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), webhookJSON(w))
			}
			if from > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "Webhook %s will receive every change from seq %d on again.\n", w.ID, from)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "Webhook %s is active again and resumes where it stopped.\n", w.ID)
			}
			return nil
		},
	}
	replay.Flags().Int64Var(&from, "from", 0, "send every change from this seq on again (default: resume where it stopped)")

	deliveries := &cobra.Command{
		Use:   "deliveries [ID]",
		Short: "Show recent delivery attempts, newest first, with status, error and duration",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, closeFn, err := rf.openExisting(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			q := store.WebhookDeliveryQuery{Tenant: listTenant, Failed: failed, Limit: limit}
			if len(args) == 1 {
				q.WebhookID = args[0]
			}
			ds, err := dir.WebhookDeliveries(cmd.Context(), q)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSONList(cmd.OutOrStdout(), ds, deliveryJSON)
			}
			if len(ds) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "No delivery attempts.")
				return nil
			}
			tw := newTable(cmd.OutOrStdout())
			fmt.Fprintln(tw, "TIME\tWEBHOOK\tSEQ\tWEBHOOK-ID\tATTEMPT\tSTATUS\tDURATION\tERROR")
			for _, d := range ds {
				status := "-"
				if d.Status != 0 {
					status = strconv.Itoa(d.Status)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\n", d.Time.Local().Format("2006-01-02 15:04:05"), d.WebhookID, d.Seq,
					d.ChangeID, d.Attempt, status, d.Duration.Round(time.Millisecond), d.Error)
			}
			return tw.Flush()
		},
	}
	deliveries.Flags().StringVar(&listTenant, "tenant", "", "only this tenant's endpoints")
	deliveries.Flags().BoolVar(&failed, "failed", false, "only attempts that did not get a 2xx")
	deliveries.Flags().IntVar(&limit, "limit", 50, "at most this many attempts")

	for _, c := range []*cobra.Command{add, list, remove, test, replay, deliveries} {
		c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	}
	cmd.AddCommand(add, list, remove, test, replay, deliveries)
	return cmd
}
