package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scim/schema"
	"github.com/rosterhq/roster/store"
)

// This file holds the look-ups of the command line (`roster users`,
// `roster groups`): a resource by id or name, a whole list, and the
// filters behind --search.

// QuoteFilter quotes s as a SCIM filter string literal (JSON string syntax,
// RFC 7644 §3.4.2.2).
func QuoteFilter(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// SearchFilter builds a SCIM filter for a free-text search: a
// case-insensitive substring match on the kind's names, work email (users)
// and externalId. externalId is case-exact in SCIM (RFC 7643 §3.1), so the
// text is also tried in lower and upper case: that covers Entra's object
// ids and most mail nicknames.
func SearchFilter(kind store.Kind, text string) string {
	q := QuoteFilter(text)
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
			terms = append(terms, "externalId co "+QuoteFilter(v))
		}
	}
	return strings.Join(terms, " or ")
}

// AndFilters joins the non-empty filters with "and", each in parentheses.
func AndFilters(fs ...string) string {
	var parts []string
	for _, f := range fs {
		if strings.TrimSpace(f) != "" {
			parts = append(parts, "("+f+")")
		}
	}
	return strings.Join(parts, " and ")
}

// ListDocs lists the tenant's users or groups matching flt, as GET /Users or
// /Groups would, sorted by name, paging past MaxResults up to limit
// documents. It returns them with the total number that match. A bad
// filter is a *scim.Error with status 400.
func (s *Service) ListDocs(ctx context.Context, c Call, kind store.Kind, flt string, proj schema.Projection, limit int) ([]map[string]any, int, error) {
	sortBy := nameAttr(kind)
	var docs []map[string]any
	total := 0
	for len(docs) < limit {
		resp, err := s.List(ctx, c, kind, ListParams{
			Filter: flt, SortBy: sortBy, StartIndex: len(docs) + 1,
			Count: min(limit-len(docs), MaxResults), Projection: proj,
		})
		if err != nil {
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

// asDoc turns a listed resource (a document, or JSON copied from the store)
// into a document.
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

// Find gets a user or group by id, else by its name (userName or
// displayName, exact match); nil and no error when there is none.
func (s *Service) Find(ctx context.Context, c Call, kind store.Kind, ref string, proj schema.Projection) (map[string]any, error) {
	got, err := s.Get(ctx, c, kind, ref, proj)
	if err == nil {
		return got.Doc, nil
	}
	var se *scim.Error
	if !errors.As(err, &se) || se.Status != scim.StatusNotFound {
		return nil, err
	}
	resp, err := s.List(ctx, c, kind, ListParams{
		Filter: nameAttr(kind) + " eq " + QuoteFilter(ref), Count: 1, Projection: schema.NewProjection(typeOf(kind), "id", ""),
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
	got, err = s.Get(ctx, c, kind, id, proj)
	if err != nil {
		return nil, err
	}
	return got.Doc, nil
}
