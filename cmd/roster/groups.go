package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scim/schema"
	"github.com/rosterhq/roster/store"
)

func newGroupsCmd(rf *rootFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "groups",
		Short: "List and show the groups Entra provisioned",
		Long: `List and show the groups Entra provisioned into a tenant, with their members,
read from the local database (the agent need not be running).`,
	}
	cmd.AddCommand(newGroupsListCmd(rf), newGroupsShowCmd(rf), newExportCmd(rf, store.KindGroup))
	return cmd
}

func newGroupsListCmd(rf *rootFlags) *cobra.Command {
	var (
		tenant, search, flt string
		asJSON              bool
		limit               int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List groups with their member counts, sorted by displayName",
		Long: `List a tenant's groups with the number of direct members, sorted by displayName.

--search matches displayName as a case-insensitive substring, and externalId
(case-exact in SCIM) as typed, lower- or upper-cased;
--filter takes any SCIM filter (RFC 7644 §3.4.2.2), e.g. 'members[value eq "<user id>"]'.`,
		Example: `  roster groups list
  roster groups list --search eng --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 {
				return usageError{fmt.Errorf("--limit must be at least 1, not %d", limit)}
			}
			if err := checkFilter(flt); err != nil {
				return err
			}
			var searchF string
			if search != "" {
				searchF = searchFilter(store.KindGroup, search)
			}
			dir, call, closeFn, err := openTenant(cmd, rf, tenant, args)
			if err != nil {
				return err
			}
			defer closeFn()
			ctx := cmd.Context()
			// Without members, as Entra reads groups; the counts come from the index.
			proj := schema.NewProjection(schema.GroupType, "", "members")
			docs, total, err := listDocs(ctx, dir, call, store.KindGroup, andFilters(searchF, flt), proj, limit)
			if err != nil {
				return err
			}
			ids := make([]string, len(docs))
			for i, d := range docs {
				ids[i] = docString(d, "id")
			}
			counts, err := dir.MemberCounts(ctx, call, ids)
			if err != nil {
				return err
			}
			if asJSON {
				out := []map[string]any{}
				for _, d := range docs {
					out = append(out, map[string]any{"id": docString(d, "id"), "display_name": docString(d, "displayName"),
						"members": counts[docString(d, "id")], "external_id": docString(d, "externalId"),
						"created": jsonTime(d, "created"), "modified": jsonTime(d, "lastModified")})
				}
				if len(docs) < total {
					fmt.Fprintf(cmd.ErrOrStderr(), "%d of %d groups (raise --limit to see more)\n", len(docs), total)
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			if len(docs) == 0 {
				if search != "" || flt != "" {
					fmt.Fprintf(w, "No groups in tenant %q match.\n", tenant)
				} else {
					fmt.Fprintf(w, "No groups in tenant %q yet: Entra provisions the groups assigned to its enterprise application (see 'roster log').\n", tenant)
				}
				return nil
			}
			now := time.Now()
			tw := newTable(w)
			fmt.Fprintln(tw, "DISPLAY NAME\tMEMBERS\tEXTERNAL ID\tMODIFIED")
			for _, d := range docs {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", docString(d, "displayName"), counts[docString(d, "id")], dash(docString(d, "externalId")),
					ago(metaTime(d, "lastModified"), now))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(docs) < total {
				fmt.Fprintf(w, "%d of %d groups (raise --limit to see more)\n", len(docs), total)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", directory.DefaultTenant, "tenant to list")
	cmd.Flags().StringVar(&search, "search", "", "only groups whose displayName or externalId contains this text (case-insensitive)")
	cmd.Flags().StringVar(&flt, "filter", "", "only groups matching this SCIM filter, e.g. 'displayName sw \"Sales\"'")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: one object per group")
	return cmd
}

func newGroupsShowCmd(rf *rootFlags) *cobra.Command {
	var (
		tenant  string
		members int
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "show GROUP",
		Short: "Show one group and its members",
		Long: `Show one group: its attributes and its first members (users by userName,
nested groups as "group: <displayName>"). GROUP is the group's id or
displayName (case-insensitive).

--json prints the SCIM document exactly as GET /Groups/{id} returns it, with
every member (--members does not apply).`,
		Example: `  roster groups show Engineering
  roster groups show Engineering --members 500
  roster groups show 7f0c1c7e-4b5d-4a53-9a3e-0b1f4a6f5e2d --json`,
		Args: exactArgs(1, "a group id or displayName, e.g. 'roster groups show Engineering'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if members < 0 {
				return usageError{fmt.Errorf("--members must be 0 or more, not %d", members)}
			}
			dir, call, closeFn, err := openTenant(cmd, rf, tenant, args)
			if err != nil {
				return err
			}
			defer closeFn()
			ctx := cmd.Context()
			doc, err := findResource(ctx, dir, call, store.KindGroup, args[0], schema.Projection{})
			if err != nil {
				return err
			}
			if doc == nil {
				return fmt.Errorf("no group %q in tenant %q: try 'roster groups list --search %s'", args[0], tenant, shellQuote(args[0]))
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), doc)
			}
			all := docObjects(doc, "members")
			shown := all[:min(members, len(all))]
			ids := make([]string, len(shown))
			for i, m := range shown {
				ids[i] = docString(m, "value")
			}
			names, err := dir.Names(ctx, call, ids)
			if err != nil {
				return err
			}
			lines := make([]string, len(ids))
			for i, id := range ids {
				n, ok := names[id]
				switch {
				case !ok:
					lines[i] = id + " (not found)"
				case n.Kind == store.KindGroup:
					lines[i] = "group: " + n.Name
				default:
					lines[i] = n.Name
				}
			}
			writeGroup(cmd.OutOrStdout(), doc, len(all), lines, time.Now())
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", directory.DefaultTenant, "tenant the group belongs to")
	cmd.Flags().IntVar(&members, "members", 50, "list at most this many members")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the SCIM document as the API returns it")
	return cmd
}

// writeGroup prints a group for people: attributes, then the member lines
// (users first by name, then nested groups) and how many are not shown.
func writeGroup(w io.Writer, d map[string]any, total int, lines []string, now time.Time) {
	fmt.Fprintln(w, docString(d, "displayName"))
	showField(w, "id", docString(d, "id"))
	showField(w, "external id", docString(d, "externalId"))
	showField(w, "members", fmt.Sprint(total))
	showField(w, "created", whenLine(metaTime(d, "created"), now))
	showField(w, "modified", whenLine(metaTime(d, "lastModified"), now))
	meta, _ := d["meta"].(map[string]any)
	showField(w, "version", versionNumber(docString(meta, "version")))
	if total == 0 {
		fmt.Fprintln(w, "\nNo members.")
		return
	}
	sort.SliceStable(lines, func(i, j int) bool {
		gi, gj := isGroupLine(lines[i]), isGroupLine(lines[j])
		if gi != gj {
			return !gi
		}
		return lines[i] < lines[j]
	})
	if len(lines) < total {
		fmt.Fprintf(w, "\nMembers (%d of %d):\n", len(lines), total)
	} else {
		fmt.Fprintln(w, "\nMembers:")
	}
	for _, l := range lines {
		fmt.Fprintln(w, "  "+l)
	}
	if rest := total - len(lines); rest > 0 {
		fmt.Fprintf(w, "  … and %d more (--members %d lists them all)\n", rest, total)
	}
}

func isGroupLine(s string) bool { return strings.HasPrefix(s, "group: ") }
