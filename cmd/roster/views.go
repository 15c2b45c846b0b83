package main

import (
	"context"
	"encoding/json"
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

// scimString quotes s as a SCIM filter string literal (JSON string syntax,
// RFC 7644 §3.4.2.2).
func scimString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// searchFilter builds the SCIM filter behind --search: a case-insensitive
// substring match on the kind's names, work email (users) and externalId.
// externalId is case-exact in SCIM (RFC 7643 §3.1), so the text is also tried
// in lower and upper case: that covers Entra's object ids and most mail nicknames.
func searchFilter(kind store.Kind, text string) string {
	q := scimString(text)
	var terms []string
	if kind == store.KindUser {
		terms = append(terms, "userName co "+q, "displayName co "+q, `emails[type eq "work"].value co `+q)
	} else {
		terms = append(terms, "displayName co "+q)
	}
	seen := map[string]bool{}
	for _, v := range []string{text, strings.ToLower(text), strings.ToUpper(text)} {
		if !seen[v] {
			seen[v] = true
			terms = append(terms, "externalId co "+scimString(v))
		}
	}
	return strings.Join(terms, " or ")
}

// andFilters joins non-empty filters with "and", each in parentheses.
func andFilters(fs ...string) string {
	var parts []string
	for _, f := range fs {
		if strings.TrimSpace(f) != "" {
			parts = append(parts, "("+f+")")
		}
	}
	return strings.Join(parts, " and ")
}

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

// listDocs runs a list through the directory, as GET /Users or /Groups
// would, sorted by name, paging past directory.MaxResults up to limit. It
// returns the documents and the total number of matches.
func listDocs(ctx context.Context, dir *directory.Service, call directory.Call, kind store.Kind, flt string, proj schema.Projection, limit int) ([]map[string]any, int, error) {
	sortBy := "userName"
	if kind == store.KindGroup {
		sortBy = "displayName"
	}
	var docs []map[string]any
	total := 0
	for len(docs) < limit {
		resp, err := dir.List(ctx, call, kind, directory.ListParams{
			Filter: flt, SortBy: sortBy, StartIndex: len(docs) + 1,
			Count: min(limit-len(docs), directory.MaxResults), Projection: proj,
		})
		if err != nil {
			var se *scim.Error
			if errors.As(err, &se) && se.Status == scim.StatusBadRequest {
				return nil, 0, usageError{fmt.Errorf("filter %s: %s", scimString(flt), se.Detail)}
			}
			return nil, 0, err
		}
		total = resp.TotalResults
		for _, r := range resp.Resources {
			d, err := asDoc(r)
			if err != nil {
				return nil, 0, err
			}
			docs = append(docs, d)
		}
		if len(resp.Resources) == 0 || len(docs) >= total {
			break
		}
	}
	return docs, total, nil
}

// asDoc turns a listed resource (a document, or JSON copied from the store) into a document.
func asDoc(r any) (map[string]any, error) {
	switch x := r.(type) {
	case map[string]any:
		return x, nil
	case json.RawMessage:
		var d map[string]any
		if err := json.Unmarshal(x, &d); err != nil {
			return nil, fmt.Errorf("decode listed resource: %w", err)
		}
		return d, nil
	}
	return nil, fmt.Errorf("unexpected listed resource %T", r)
}

// findResource gets a user or group by id, else by its name (userName or
// displayName, case-insensitively), with proj. It returns nil when neither matches.
func findResource(ctx context.Context, dir *directory.Service, call directory.Call, kind store.Kind, ref string, proj schema.Projection) (map[string]any, error) {
	got, err := dir.Get(ctx, call, kind, ref, proj)
	if err == nil {
		return got.Doc, nil
	}
	var se *scim.Error
	if !errors.As(err, &se) || se.Status != scim.StatusNotFound {
		return nil, err
	}
	rt, attr := schema.UserType, "userName"
	if kind == store.KindGroup {
		rt, attr = schema.GroupType, "displayName"
	}
	resp, err := dir.List(ctx, call, kind, directory.ListParams{
		Filter: attr + " eq " + scimString(ref), Count: 1, Projection: schema.NewProjection(rt, "id", ""),
	})
	if err != nil {
		return nil, err
	}
	if len(resp.Resources) == 0 {
		return nil, nil
	}
	d, err := asDoc(resp.Resources[0])
	if err != nil {
		return nil, err
	}
	id, _ := d["id"].(string)
	got, err = dir.Get(ctx, call, kind, id, proj)
	if err != nil {
		return nil, err
	}
	return got.Doc, nil
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
