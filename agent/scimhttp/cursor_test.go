package scimhttp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/rosterhq/roster/store"
)

// cursorPage is a ListResponse of RFC 9865 cursor pagination.
type cursorPage struct {
	TotalResults *int             `json:"totalResults"`
	StartIndex   *int             `json:"startIndex"`
	NextCursor   string           `json:"nextCursor"`
	Resources    []map[string]any `json:"Resources"`
}

// TestCursorPagination walks users and groups with RFC 9865 cursors: every
// resource once, in creation order, the last page without nextCursor;
// writes during the walk neither repeat nor skip what stays; errors carry
// the RFC's scimTypes; startIndex paging keeps working.
func TestCursorPagination(t *testing.T) {
	a := newTestAgent(t)
	url, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(url, tok)
	var ids []string
	for i := range 25 {
		ids = append(ids, createUser(t, c, userDoc(fmt.Sprintf("u%02d@x.test", i), map[string]any{"title": fmt.Sprint(i % 2)})))
	}
	get := func(path string) cursorPage {
		t.Helper()
		r := c.do(t, http.MethodGet, path, nil, nil)
		wantStatus(t, r, http.StatusOK)
		var p cursorPage
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		if p.StartIndex != nil {
			t.Fatalf("%s: a cursor page has a startIndex", r)
		}
		return p
	}
	walk := func(query string, during func(page int)) []string {
		t.Helper()
		var got []string
		cursor := ""
		for page := 0; ; page++ {
			p := get("/Users?count=10&cursor=" + cursor + query)
			if (page == 0) != (p.TotalResults != nil) {
				t.Fatalf("page %d: totalResults %v (only the first page counts)", page, p.TotalResults)
			}
			for _, r := range p.Resources {
				got = append(got, r["id"].(string))
			}
			if during != nil {
				during(page)
			}
			if p.NextCursor == "" {
				return got
			}
			cursor = p.NextCursor
		}
	}
	if got := walk("", nil); !slices.Equal(got, ids) {
		t.Fatalf("walk: %d ids %v, want %d in creation order", len(got), got, len(ids))
	}
	p := get("/Users?cursor&count=10")
	if p.TotalResults == nil || *p.TotalResults != 25 || len(p.Resources) != 10 || p.NextCursor == "" {
		t.Fatalf("first page: %+v", p)
	}

	// A filter that SQL evaluates and one that needs Go (title is not an
	// indexed column): the same walk.
	var odd []string
	for i, id := range ids {
		if i%2 == 1 {
			odd = append(odd, id)
		}
	}
	if got := walk("&filter="+q(`title eq "1"`), nil); !slices.Equal(got, odd) {
		t.Fatalf("filtered walk: %v, want %v", got, odd)
	}

	// Deleting a resource not yet reached and creating one during the walk:
	// the deleted one is not returned, the new one comes at the end.
	var added string
	got := walk("", func(page int) {
		if page == 0 {
			wantStatus(t, c.do(t, http.MethodDelete, "/Users/"+ids[20], nil, nil), http.StatusNoContent)
			added = createUser(t, c, userDoc("late@x.test", nil))
		}
	})
	want := append(slices.Delete(slices.Clone(ids), 20, 21), added)
	if !slices.Equal(got, want) {
		t.Fatalf("walk with writes: %v, want %v", got, want)
	}

	// Groups page the same way, with their members.
	g := createGroup(t, c, "staff", ids[0], ids[1])
	gp := get("/Groups?cursor=")
	if len(gp.Resources) != 1 || gp.Resources[0]["id"] != g || len(memberIDs(gp.Resources[0])) != 2 || gp.NextCursor != "" {
		t.Fatalf("groups: %+v", gp)
	}

	// POST /.search takes the cursor in the body (RFC 9865 §3).
	r := c.do(t, http.MethodPost, "/Users/.search", map[string]any{"cursor": "", "count": 5}, nil)
	wantStatus(t, r, http.StatusOK)
	var sp cursorPage
	if err := json.Unmarshal(r.Body, &sp); err != nil || len(sp.Resources) != 5 || sp.NextCursor == "" {
		t.Fatalf("search: %s", r)
	}

	for _, tc := range []struct{ path, scimType string }{
		{"/Users?cursor=not-a-cursor", "invalidCursor"},
		{"/Users?cursor=" + p.NextCursor + "&filter=" + q(`userName sw "u"`), "invalidCursor"}, // another query's cursor
		{"/Users?cursor=" + p.NextCursor[:len(p.NextCursor)-1], "invalidCursor"},
		{"/Users?cursor&count=0", "invalidCount"},
		{"/Users?cursor&sortBy=userName", "invalidValue"},
	} {
		wantSCIMError(t, c.do(t, http.MethodGet, tc.path, nil, nil), http.StatusBadRequest, tc.scimType)
	}

	// Index paging is untouched.
	lr := c.do(t, http.MethodGet, "/Users?startIndex=21&count=10", nil, nil).list(t)
	if lr.StartIndex != 21 || lr.TotalResults != 25 || len(lr.Resources) != 5 {
		t.Fatalf("startIndex paging: %+v", lr)
	}
	spc := c.do(t, http.MethodGet, "/ServiceProviderConfig", nil, nil).obj(t)
	pg, _ := spc["pagination"].(map[string]any)
	if pg["cursor"] != true || pg["index"] != true || pg["defaultPaginationMethod"] != "index" || pg["maxPageSize"] == nil {
		t.Fatalf("ServiceProviderConfig pagination: %v", spc["pagination"])
	}
}
