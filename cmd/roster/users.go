package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scim/schema"
	"github.com/rosterhq/roster/store"
)

func newUsersCmd(rf *rootFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "List and show the users Entra provisioned",
		Long: `List and show the users Entra provisioned into a tenant, read from the local
database (the agent need not be running). Entra disables a user (active=false)
when it is unassigned, out of scope, disabled or soft-deleted; it deletes the
user only when it is hard-deleted in Entra.`,
	}
	cmd.AddCommand(newUsersListCmd(rf), newUsersShowCmd(rf), newExportCmd(rf, store.KindUser))
	return cmd
}

func newUsersListCmd(rf *rootFlags) *cobra.Command {
	var (
		tenant, search, flt      string
		active, inactive, asJSON bool
		limit                    int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users, sorted by userName",
		Long: `List a tenant's users, sorted by userName.

--search matches userName, displayName or work email as a case-insensitive
substring, and externalId (case-exact in SCIM) as typed, lower- or
upper-cased. --filter takes any SCIM filter (RFC 7644 §3.4.2.2),
evaluated exactly as the agent evaluates Entra's queries. Both can be combined,
and with --active or --inactive.`,
		Example: `  roster users list
  roster users list --search alice
  roster users list --inactive --json
  roster users list --filter 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Sales"'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if active && inactive {
				//lint:ignore ST1005 a usage error ends with a hint line for the terminal
				return usageError{fmt.Errorf("--active and --inactive exclude each other\nRun '%s --help' for usage.", cmd.CommandPath())}
			}
			if limit < 1 {
				return usageError{fmt.Errorf("--limit must be at least 1, not %d", limit)}
			}
			if err := checkFilter(flt); err != nil {
				return err
			}
			var state string
			switch {
			case active:
				state = "active eq true"
			case inactive:
				state = "active eq false"
			}
			var searchF string
			if search != "" {
				searchF = searchFilter(store.KindUser, search)
			}
			dir, call, closeFn, err := openTenant(cmd, rf, tenant, args)
			if err != nil {
				return err
			}
			defer closeFn()
			// The default projection returns each user's groups (read in the
			// same statement as the user).
			docs, total, err := listDocs(cmd.Context(), dir, call, store.KindUser, andFilters(searchF, flt, state), schema.Projection{}, limit)
			if err != nil {
				return err
			}
			if asJSON {
				out := []map[string]any{}
				for _, d := range docs {
					out = append(out, userRow(d))
				}
				if len(docs) < total {
					fmt.Fprintf(cmd.ErrOrStderr(), "%d of %d users (raise --limit to see more)\n", len(docs), total)
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			if len(docs) == 0 {
				if search != "" || flt != "" || state != "" {
					fmt.Fprintf(w, "No users in tenant %q match.\n", tenant)
				} else {
					fmt.Fprintf(w, "No users in tenant %q yet: Entra creates them on its next provisioning cycle (see 'roster log').\n", tenant)
				}
				return nil
			}
			now := time.Now()
			tw := newTable(w)
			fmt.Fprintln(tw, "USERNAME\tDISPLAY NAME\tACTIVE\tEMAIL\tEXTERNAL ID\tGROUPS\tMODIFIED")
			for _, d := range docs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", docString(d, "userName"), dash(docString(d, "displayName")), yesNo(d["active"]),
					dash(workEmail(d)), dash(docString(d, "externalId")), len(docObjects(d, "groups")), ago(metaTime(d, "lastModified"), now))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(docs) < total {
				fmt.Fprintf(w, "%d of %d users (raise --limit to see more)\n", len(docs), total)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", directory.DefaultTenant, "tenant to list")
	cmd.Flags().StringVar(&search, "search", "", "only users whose userName, displayName, work email or externalId contains this text (case-insensitive)")
	cmd.Flags().StringVar(&flt, "filter", "", "only users matching this SCIM filter, e.g. 'userName sw \"a\"'")
	cmd.Flags().BoolVar(&active, "active", false, "only active users")
	cmd.Flags().BoolVar(&inactive, "inactive", false, "only disabled users (active=false)")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: one object per user")
	return cmd
}

// userRow is a user as a row of `roster users list --json`.
func userRow(d map[string]any) map[string]any {
	var groups []string
	for _, g := range docObjects(d, "groups") {
		groups = append(groups, docString(g, "display"))
	}
	var act any
	if b, ok := d["active"].(bool); ok {
		act = b
	}
	return map[string]any{"id": docString(d, "id"), "user_name": docString(d, "userName"), "display_name": docString(d, "displayName"),
		"active": act, "email": workEmail(d), "external_id": docString(d, "externalId"), "groups": append([]string{}, groups...),
		"created": jsonTime(d, "created"), "modified": jsonTime(d, "lastModified")}
}

// yesNo renders active: yes, no, or - when absent.
func yesNo(v any) string {
	b, ok := v.(bool)
	switch {
	case !ok:
		return "-"
	case b:
		return "yes"
	}
	return "no"
}

// workEmail is the user's work email: the primary one, else the first.
func workEmail(d map[string]any) string {
	var first string
	for _, e := range docObjects(d, "emails") {
		if !strings.EqualFold(docString(e, "type"), "work") {
			continue
		}
		if p, _ := e["primary"].(bool); p {
			return docString(e, "value")
		}
		if first == "" {
			first = docString(e, "value")
		}
	}
	return first
}

// userMarks are the markings shown next to a user's status. This is the one
// place that decides them: the email-domain (verified or not) and
// Entra-managed markings belong here once those records exist.
func userMarks(d map[string]any) []string {
	var marks []string
	if a, ok := d["active"].(bool); ok && !a {
		marks = append(marks, "DISABLED")
	}
	return marks
}

func newUsersShowCmd(rf *rootFlags) *cobra.Command {
	var (
		tenant string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "show USER",
		Short: "Show one user: attributes, status, manager and groups",
		Long: `Show one user. USER is the user's id or userName (case-insensitive).

--json prints the SCIM document exactly as GET /Users/{id} returns it.`,
		Example: `  roster users show alice@contoso.com
  roster users show 2819c223-7f76-453a-919d-413861904646 --json`,
		Args: exactArgs(1, "a user id or userName, e.g. 'roster users show alice@contoso.com'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, call, closeFn, err := openTenant(cmd, rf, tenant, args)
			if err != nil {
				return err
			}
			defer closeFn()
			ctx := cmd.Context()
			// The default projection includes groups (display names and ids).
			doc, err := findResource(ctx, dir, call, store.KindUser, args[0], schema.Projection{})
			if err != nil {
				return err
			}
			if doc == nil {
				return fmt.Errorf("no user %q in tenant %q: try 'roster users list --search %s'", args[0], tenant, shellQuote(args[0]))
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), doc)
			}
			ent, _ := doc[scim.SchemaEnterpriseUser].(map[string]any)
			var manager string
			if m, _ := ent["manager"].(map[string]any); docString(m, "value") != "" {
				id := docString(m, "value")
				names, err := dir.Names(ctx, call, []string{id})
				if err != nil {
					return err
				}
				if n, ok := names[id]; ok && n.Kind == store.KindUser {
					manager = n.Name + " (" + id + ")"
				} else {
					manager = id + " (no such user in this tenant yet)"
				}
			}
			st, err := dir.UserStatus(ctx, call, docString(doc, "id"))
			if err != nil {
				return err
			}
			writeUser(cmd.OutOrStdout(), doc, manager, time.Now())
			writeUserStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", directory.DefaultTenant, "tenant the user belongs to")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the SCIM document as the API returns it")
	return cmd
}

// writeUser prints a user for people. manager is the resolved manager line.
func writeUser(w io.Writer, d map[string]any, manager string, now time.Time) {
	head := docString(d, "userName")
	marks := userMarks(d)
	if len(marks) > 0 {
		head += "   [" + strings.Join(marks, ", ") + "]"
	}
	fmt.Fprintln(w, head)
	showField(w, "id", docString(d, "id"))
	switch a, ok := d["active"].(bool); {
	case ok && a:
		showField(w, "status", "active")
	case ok:
		showField(w, "status", "DISABLED (active=false): Entra disables users that are unassigned, out of scope,",
			"disabled or soft-deleted; group memberships are kept until Entra deletes the user")
	default:
		showField(w, "status", "- (active not set)")
	}
	showField(w, "name", personName(d))
	showField(w, "display name", docString(d, "displayName"))
	showField(w, "title", docString(d, "title"))
	showField(w, "language", docString(d, "preferredLanguage"))
	var emails, phones, addrs []string
	for _, e := range docObjects(d, "emails") {
		emails = append(emails, taggedValue(docString(e, "value"), e))
	}
	for _, p := range docObjects(d, "phoneNumbers") {
		phones = append(phones, taggedValue(docString(p, "value"), p))
	}
	for _, a := range docObjects(d, "addresses") {
		addrs = append(addrs, taggedValue(formatAddress(a), a))
	}
	showField(w, "emails", emails...)
	showField(w, "phone numbers", phones...)
	showField(w, "addresses", addrs...)
	ent, _ := d[scim.SchemaEnterpriseUser].(map[string]any)
	showField(w, "department", docString(ent, "department"))
	showField(w, "employee number", docString(ent, "employeeNumber"))
	showField(w, "cost center", docString(ent, "costCenter"))
	showField(w, "organization", docString(ent, "organization"))
	showField(w, "division", docString(ent, "division"))
	showField(w, "manager", manager)
	showField(w, "external id", docString(d, "externalId"))
	var groups []string
	for _, g := range docObjects(d, "groups") {
		groups = append(groups, docString(g, "display"))
	}
	if len(groups) == 0 {
		showField(w, "groups", "none")
	} else {
		showField(w, "groups", strings.Join(groups, ", "))
	}
	showField(w, "created", whenLine(metaTime(d, "created"), now))
	showField(w, "modified", whenLine(metaTime(d, "lastModified"), now))
	meta, _ := d["meta"].(map[string]any)
	showField(w, "version", versionNumber(docString(meta, "version")))
}

// personName renders name: formatted, else the parts.
func personName(d map[string]any) string {
	n, _ := d["name"].(map[string]any)
	if f := docString(n, "formatted"); f != "" {
		return f
	}
	var parts []string
	for _, k := range []string{"honorificPrefix", "givenName", "middleName", "familyName", "honorificSuffix"} {
		if v := docString(n, k); v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, " ")
}

// formatAddress renders an address: formatted, else its parts on one line.
func formatAddress(a map[string]any) string {
	if f := docString(a, "formatted"); f != "" {
		return strings.ReplaceAll(f, "\n", ", ")
	}
	var parts []string
	for _, k := range []string{"streetAddress", "locality", "region", "postalCode", "country"} {
		if v := docString(a, k); v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, ", ")
}

// versionNumber turns the ETag W/"3" into 3 (meta.version, RFC 7644 §3.14).
func versionNumber(etag string) string {
	v := strings.Trim(strings.TrimPrefix(etag, "W/"), `"`)
	if _, err := strconv.ParseInt(v, 10, 64); err != nil {
		return etag
	}
	return v
}

// shellQuote quotes s for a command line suggestion when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?;&|<>(){}[]#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeUserStatus prints the user's email domains and the attributes Entra manages.
func writeUserStatus(w io.Writer, st *directory.UserStatus) {
	var domains []string
	for _, d := range st.Domains {
		state := string(d.Status)
		if state == "" {
			state = "not a domain of this tenant"
		}
		domains = append(domains, d.Domain+" ("+state+")")
	}
	if len(domains) > 0 {
		showField(w, "email domains", domains...)
	}
	if len(st.Managed) == 0 {
		showField(w, "managed by Entra", "nothing (not provisioned by Entra)")
		return
	}
	showField(w, "managed by Entra", strings.Join(st.Managed, ", "),
		"(app tokens cannot change these; Entra provisions them)")
}
