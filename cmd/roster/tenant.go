package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

func newTenantCmd(rf *rootFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "Manage tenants: one per organisation or location, each with its own Tenant URL",
	}
	var name, patchResponse, retention string
	var asJSON bool
	add := &cobra.Command{
		Use:   "add ID",
		Short: "Add a tenant",
		Long: `Add a tenant. ID appears in the Tenant URL (<public URL>/scim/ID/v2): use
lower-case letters, digits and hyphens. Then issue it a token with
'roster token issue --tenant ID'.`,
		Example: "  roster tenant add contoso --name \"Contoso Ltd\"",
		Args:    exactArgs(1, "a tenant id, e.g. 'roster tenant add contoso'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var settings store.TenantSettings
			switch patchResponse {
			case "200":
			case "204":
				settings.PatchUserNoContent = true
			default:
				return usageError{fmt.Errorf("--patch-response must be 200 or 204, not %q", patchResponse)}
			}
			if err := setRetention(&settings, retention); err != nil {
				return err
			}
			dir, closeFn, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			t, err := dir.AddTenant(cmd.Context(), args[0], name, settings)
			if err != nil {
				return err
			}
			url := scimhttp.TenantURL(lastPublicURL(cmd.Context(), dir), t.ID)
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"id": t.ID, "name": t.Name, "tenant_url": url})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Added tenant %q (%s).\nTenant URL: %s\nNext: roster token issue --tenant %s\n", t.ID, t.Name, url, t.ID)
			return nil
		},
	}
	add.Flags().StringVar(&name, "name", "", "display name (default: the id)")
	add.Flags().StringVar(&patchResponse, "patch-response", "200", "answer to PATCH /Users: 200 (with the user) or 204 (no body, as Microsoft's reference server)")
	add.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	add.Flags().StringVar(&retention, "retention", "", "how long disabled users are kept before they are purged, in days (e.g. 90d), or 0 to keep them forever (default 30d)")

	var setPatch, setRetentionFlag, setName string
	set := &cobra.Command{
		Use:     "set ID",
		Short:   "Change a tenant's name, PATCH answer or retention of disabled users",
		Example: "  roster tenant set default --retention 90d\n  roster tenant set default --retention 0      # keep disabled users forever",
		Args:    exactArgs(1, "a tenant id from 'roster tenant list'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, closeFn, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			t, err := dir.Tenant(cmd.Context(), args[0])
			if err != nil {
				return tenantErr(err, args[0])
			}
			if cmd.Flags().Changed("name") {
				t.Name = setName
			}
			if cmd.Flags().Changed("patch-response") {
				switch setPatch {
				case "200", "204":
					t.Settings.PatchUserNoContent = setPatch == "204"
				default:
					return usageError{fmt.Errorf("--patch-response must be 200 or 204, not %q", setPatch)}
				}
			}
			if cmd.Flags().Changed("retention") {
				if err := setRetention(&t.Settings, setRetentionFlag); err != nil {
					return err
				}
			}
			if err := dir.UpdateTenant(cmd.Context(), t); err != nil {
				return err
			}
			keep := "forever"
			if r := t.Settings.Retention(); r > 0 {
				keep = fmt.Sprintf("%d days", int(r.Hours()/24))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Tenant %q (%s): PATCH /Users answers %d; disabled users are kept %s.\n", t.ID, t.Name, patchResp(t.Settings), keep)
			return nil
		},
	}
	set.Flags().StringVar(&setName, "name", "", "display name")
	set.Flags().StringVar(&setPatch, "patch-response", "200", "answer to PATCH /Users: 200 (with the user) or 204")
	set.Flags().StringVar(&setRetentionFlag, "retention", "30d", "keep disabled users this long (e.g. 90d), or 0 for forever")

	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List tenants with their Tenant URLs and counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, closeFn, err := rf.openExisting(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			ts, err := dir.Tenants(cmd.Context())
			if err != nil {
				return err
			}
			base := lastPublicURL(cmd.Context(), dir)
			domains, err := dir.DomainCounts(cmd.Context())
			if err != nil {
				return err
			}
			domainState := func(tenant string) (string, map[string]int) {
				counts := domains[tenant]
				if counts == nil {
					counts = map[string]int{}
				}
				if len(counts) == 0 {
					return "ANY (no domains)", counts
				}
				var parts []string
				for _, st := range []string{"verified", "pending", "failed", "lapsed"} {
					if counts[st] > 0 {
						parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
					}
				}
				return strings.Join(parts, ", "), counts
			}
			if listJSON {
				out := []map[string]any{}
				for _, t := range ts {
					_, counts := domainState(t.ID)
					out = append(out, map[string]any{"id": t.ID, "name": t.Name, "tenant_url": scimhttp.TenantURL(base, t.ID),
						"users": t.Users, "groups": t.Groups, "active_tokens": t.ActiveTokens, "created": t.Created.Format(time.RFC3339),
						"patch_user_response": patchResp(t.Settings), "domains": counts, "retention_days": int(t.Settings.Retention().Hours() / 24),
						"accepts_any_domain": len(counts) == 0})
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			if len(ts) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "No tenants yet. Start the agent ('roster agent') to create the default one, or 'roster tenant add ID'.")
				return nil
			}
			tw := newTable(cmd.OutOrStdout())
			fmt.Fprintln(tw, "ID\tNAME\tUSERS\tGROUPS\tTOKENS\tEMAIL DOMAINS\tTENANT URL")
			for _, t := range ts {
				state, _ := domainState(t.ID)
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", t.ID, t.Name, t.Users, t.Groups, t.ActiveTokens, state, scimhttp.TenantURL(base, t.ID))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			return warnOpenTenants(cmd, dir, "")
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")
	cmd.AddCommand(add, list, set, newTenantRemoveCmd(rf), newTenantExtensionCmd(rf))
	return cmd
}

func newTenantRemoveCmd(rf *rootFlags) *cobra.Command {
	var yes, asJSON bool
	cmd := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a tenant with all its users, groups, tokens, domains and events",
		Long: `Remove a tenant and everything it holds: its users and groups, its Secret
Tokens (Entra's requests to its Tenant URL fail from then on), its email
domains, its provisioning events and its saved Entra connection. This cannot
be undone, except by 'roster restore' from a backup ('roster backup FILE').

On a terminal it asks first; elsewhere it needs --yes. The Entra enterprise
app is left as it is: delete it in Entra, or stop its provisioning with
'roster entra pause --tenant ID' before removing the tenant.`,
		Example: "  roster tenant remove tokyo\n  roster tenant remove tokyo --yes --json",
		Args:    exactArgs(1, "a tenant id from 'roster tenant list'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dir, closeFn, err := rf.openExisting(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			if _, err := dir.Tenant(ctx, args[0]); err != nil {
				return err
			}
			if err := confirm(cmd, yes, fmt.Sprintf("Remove tenant %q with all its users, groups, tokens, domains and events?", args[0])); err != nil {
				return err
			}
			t, err := dir.RemoveTenant(ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"removed": t.ID, "users": t.Users, "groups": t.Groups})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed tenant %q with %d users and %d groups.\n", t.ID, t.Users, t.Groups)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func patchResp(s store.TenantSettings) int {
	if s.PatchUserNoContent {
		return 204
	}
	return 200
}

// exactArgs is cobra.ExactArgs with a message that says what is expected.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			//lint:ignore ST1005 a usage error ends with a hint line for the terminal
			return usageError{fmt.Errorf("%s expects %s (got %d arguments)\nRun '%s --help' for usage.", cmd.CommandPath(), what, len(args), cmd.CommandPath())}
		}
		return nil
	}
}

// setRetention parses a retention such as 30d, 12w or 0 into settings.
func setRetention(s *store.TenantSettings, v string) error {
	if v == "" {
		return nil
	}
	days := 0
	if v != "0" && v != "0d" {
		d, err := parseDays(v)
		if err != nil || d < 24*time.Hour || d%(24*time.Hour) != 0 {
			return usageError{fmt.Errorf("--retention %q: use whole days such as 30d or 12w, or 0 to keep disabled users forever", v)}
		}
		days = int(d.Hours() / 24)
	}
	s.RetentionDays = &days
	return nil
}
