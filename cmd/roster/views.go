package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scim/filter"
	"github.com/rosterhq/roster/agent/scim/schema"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

// This file holds what `roster users` and `roster groups` share: opening a
// tenant's directory, building and running filters, and reading SCIM documents.

// openTenant opens the directory and checks that the tenant exists. The Call
// it returns makes meta.location point at the tenant's SCIM API, as the agent
// would render it.
func openTenant(cmd *cobra.Command, rf *rootFlags, tenant string, args []string) (*directory.Service, directory.Call, func(), error) {
	ctx := cmd.Context()
	dir, closeFn, err := rf.openExisting(ctx)
	if err != nil {
		return nil, directory.Call{}, nil, err
	}
	if _, err := dir.Tenant(ctx, tenant); err != nil {
		closeFn()
		return nil, directory.Call{}, nil, err
	}
	call := directory.Call{
		TenantID: tenant,
		BaseURL:  scimhttp.TenantURL(lastPublicURL(ctx, dir), tenant),
		Method:   "CLI",
		Path:     strings.Join(append([]string{cmd.CommandPath()}, args...), " "),
		Start:    time.Now(),
	}
	return dir, call, closeFn, nil
}

// scimString quotes s as a SCIM filter string literal.
func scimString(s string) string { return directory.QuoteFilter(s) }

// searchFilter builds the SCIM filter behind --search (directory.SearchFilter).
func searchFilter(kind store.Kind, text string) string { return directory.SearchFilter(kind, text) }

// andFilters joins non-empty filters with "and" (directory.AndFilters).
func andFilters(fs ...string) string { return directory.AndFilters(fs...) }

// checkFilter validates a --filter given by hand: a bad one is a usage error
// carrying the SCIM parser's detail (which names the position).
func checkFilter(raw string) error {
	if strings.TrimSpace(raw) == "" {
		return nil
	}
	if _, err := filter.Parse(raw); err != nil {
		return usageError{fmt.Errorf("--filter %s: %s", scimString(raw), scimDetail(err))}
	}
	return nil
}

// scimDetail is the detail of a *scim.Error, or the error text.
func scimDetail(err error) string {
	var se *scim.Error
	if errors.As(err, &se) {
		return se.Detail
	}
	return err.Error()
}

// listDocs lists users or groups through the directory (directory.ListDocs);
// a bad filter is a usage error.
func listDocs(ctx context.Context, dir *directory.Service, call directory.Call, kind store.Kind, flt string, proj schema.Projection, limit int) ([]map[string]any, int, error) {
	docs, total, err := dir.ListDocs(ctx, call, kind, flt, proj, limit)
	var se *scim.Error
	if errors.As(err, &se) && se.Status == scim.StatusBadRequest {
		return nil, 0, usageError{fmt.Errorf("filter %s: %s", scimString(flt), se.Detail)}
	}
	return docs, total, err
}

// findResource gets a user or group by id or name (directory.Find).
func findResource(ctx context.Context, dir *directory.Service, call directory.Call, kind store.Kind, ref string, proj schema.Projection) (map[string]any, error) {
	return dir.Find(ctx, call, kind, ref, proj)
}

// docString returns m[key] as a string ("" when absent or not a string).
func docString(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// docObjects returns m[key] as a list of objects (a multi-valued complex attribute).
func docObjects(m map[string]any, key string) []map[string]any {
	arr, _ := m[key].([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, e := range arr {
		if o, ok := e.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// metaTime parses meta.created or meta.lastModified.
func metaTime(doc map[string]any, key string) *time.Time {
	meta, _ := doc["meta"].(map[string]any)
	t, err := time.Parse(time.RFC3339Nano, docString(meta, key))
	if err != nil {
		return nil
	}
	return &t
}

// jsonTime renders meta.created or meta.lastModified for list JSON (null when absent).
func jsonTime(doc map[string]any, key string) any {
	if t := metaTime(doc, key); t != nil {
		return t.UTC().Format(time.RFC3339)
	}
	return nil
}

// whenLine renders a time as absolute and relative: "2026-01-02 15:04:05 CET (3d ago)".
func whenLine(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST") + " (" + ago(t, now) + ")"
}

// showField prints one "label: value" line of a show block, skipping empty values;
// further values go on their own lines, aligned.
func showField(w io.Writer, label string, values ...string) {
	first := true
	for _, v := range values {
		if v == "" {
			continue
		}
		if first {
			fmt.Fprintf(w, "  %-17s %s\n", label+":", v)
			first = false
			continue
		}
		fmt.Fprintf(w, "  %-17s %s\n", "", v)
	}
}

// taggedValue renders "value (type, primary)" for an element of a multi-valued attribute.
func taggedValue(value string, o map[string]any) string {
	var tags []string
	if t := docString(o, "type"); t != "" {
		tags = append(tags, t)
	}
	if p, _ := o["primary"].(bool); p {
		tags = append(tags, "primary")
	}
	if len(tags) == 0 {
		return value
	}
	return value + " (" + strings.Join(tags, ", ") + ")"
}
