package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

func newTokenCmd(rf *rootFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Issue, list and revoke Secret Tokens",
		Long: `Secret Tokens authenticate Entra (and your own apps) to a tenant's Tenant URL.

A token is printed once, when issued; Roster stores only its SHA-256 hash.
A tenant can have several active tokens, so you can rotate without an outage:
issue a new one, paste it into Entra, then revoke the old one.`,
	}
	var (
		tenant, name, expires string
		readOnly, asJSON, app bool
	)
	issue := &cobra.Command{
		Use:   "issue",
		Short: "Issue a new Secret Token and print it with the Tenant URL (shown once)",
		Long: `Issue a new Secret Token for a tenant and print it with the Tenant URL.

Entra quarantines a provisioning job whose token expires, so tokens never
expire by default. --read-only tokens can read the directory through the same
SCIM API but every write gets 403 — for your own applications, not for Entra.`,
		Example: `  roster token issue
  roster token issue --tenant contoso --name entra-2026 --json
  roster token issue --name hr-app --read-only --expires 90d`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var exp *time.Time
			if expires != "never" {
				d, err := parseDays(expires)
				if err != nil {
					return usageError{fmt.Errorf("--expires: %w (or never)", err)}
				}
				t := time.Now().Add(d)
				exp = &t
			}
			dir, closeFn, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			if app && readOnly {
				return usageError{fmt.Errorf("--app and --read-only exclude each other: an app token reads and writes")}
			}
			var issued *directory.Issued
			if app {
				issued, err = dir.IssueAppToken(cmd.Context(), tenant, name, exp)
			} else {
				issued, err = dir.IssueToken(cmd.Context(), tenant, name, readOnly, exp)
			}
			if err != nil {
				return err
			}
			url := scimhttp.TenantURL(lastPublicURL(cmd.Context(), dir), tenant)
			if asJSON {
				out := map[string]any{"tenant_url": url, "token": issued.Token.Reveal(), "id": issued.Record.ID,
					"name": issued.Record.Name, "tenant": tenant, "read_only": readOnly}
				if exp != nil {
					out["expires"] = exp.UTC().Format(time.RFC3339)
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Tenant URL:    %s\nSecret Token:  %s\n\n", url, issued.Token.Reveal())
			fmt.Fprintf(w, "Token %q (id %s) for tenant %q", issued.Record.Name, issued.Record.ID, tenant)
			if readOnly {
				fmt.Fprint(w, ", read-only")
			}
			if app {
				fmt.Fprint(w, ", app token (cannot change attributes Entra manages)")
			}
			if exp != nil {
				fmt.Fprintf(w, ", expires %s", exp.Format("2006-01-02"))
			}
			fmt.Fprint(w, ".\nThis is the only time the token is shown: copy it now.\n")
			return nil
		},
	}
	issue.Flags().StringVar(&tenant, "tenant", directory.DefaultTenant, "tenant the token belongs to")
	issue.Flags().StringVar(&name, "name", "", "a name to recognise the token by (default: token-<date>)")
	issue.Flags().StringVar(&expires, "expires", "never", "lifetime such as 90d, 2w or 36h, or never")
	issue.Flags().BoolVar(&readOnly, "read-only", false, "allow reads only (writes get 403)")
	issue.Flags().BoolVar(&app, "app", false, "a read-write token for your own applications: it cannot change the attributes Entra manages")
	issue.Flags().BoolVar(&asJSON, "json", false, "print JSON: {\"tenant_url\": …, \"token\": …}")

	var listTenant string
	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			return runList(cmd, rf, listJSON,
				func(ctx context.Context, dir *directory.Service) ([]*store.Token, error) {
					return dir.Tokens(ctx, listTenant)
				},
				func(k *store.Token) map[string]any {
					return map[string]any{"id": k.ID, "tenant": k.TenantID, "name": k.Name, "read_only": k.ReadOnly, "app": k.App,
						"created": k.Created.Format(time.RFC3339), "expires": fmtTime(k.Expires), "revoked": fmtTime(k.Revoked),
						"last_used": fmtTime(k.LastUsed), "status": tokenStatus(k, now)}
				},
				func(w io.Writer, _ *directory.Service, toks []*store.Token) error {
					return printTokenTable(w, toks, now)
				})
		},
	}
	list.Flags().StringVar(&listTenant, "tenant", "", "only this tenant's tokens")
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")

	var revokeJSON bool
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token by its id (from 'roster token list')",
		Long: `Revoke a token. Requests using it are refused from then on (a running agent
notices within 5 seconds). ID is the id shown by 'roster token list'; the full
token works too.`,
		Args: exactArgs(1, "a token id from 'roster token list'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, closeFn, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			k, err := dir.RevokeToken(cmd.Context(), args[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no token with id %q: see 'roster token list'", args[0])
			}
			if err != nil {
				return err
			}
			if revokeJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"id": k.ID, "tenant": k.TenantID, "name": k.Name, "revoked": fmtTime(k.Revoked)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked token %s (%q, tenant %q).\n", k.ID, k.Name, k.TenantID)
			return nil
		},
	}
	revoke.Flags().BoolVar(&revokeJSON, "json", false, "print JSON")
	cmd.AddCommand(issue, list, revoke)
	return cmd
}

func fmtTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func tokenStatus(k *store.Token, now time.Time) string {
	switch {
	case k.Revoked != nil:
		return "revoked"
	case k.Expires != nil && !now.Before(*k.Expires):
		return "expired"
	case k.Expires != nil:
		return "active, expires " + k.Expires.Local().Format("2006-01-02")
	}
	return "active"
}

// printTokenTable prints tokens as a table, or says there are none.
func printTokenTable(w io.Writer, toks []*store.Token, now time.Time) error {
	if len(toks) == 0 {
		fmt.Fprintln(w, "No tokens. Issue one with 'roster token issue'.")
		return nil
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tTENANT\tNAME\tACCESS\tSTATUS\tCREATED\tLAST USED")
	for _, k := range toks {
		access := "provisioning"
		switch {
		case k.ReadOnly:
			access = "read-only"
		case k.App:
			access = "app"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.TenantID, k.Name, access, tokenStatus(k, now),
			k.Created.Local().Format("2006-01-02 15:04"), ago(k.LastUsed, now))
	}
	return tw.Flush()
}
