package directory

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scim/schema"
	"github.com/rosterhq/roster/store"
)

// withTenants opens a Service with these tenants.
func withTenants(t *testing.T, ids ...string) *Service {
	t.Helper()
	s := openService(t, &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)})
	for _, id := range ids {
		if _, err := s.AddTenant(context.Background(), id, "", store.TenantSettings{}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestFindAndListDocs: Find by id, userName and displayName; ListDocs past
// MaxResults, sorted by name, up to a limit, with the search filter and a
// bad filter.
func TestFindAndListDocs(t *testing.T) {
	ctx := context.Background()
	s := withTenants(t, "t1")
	call := Call{TenantID: "t1", BaseURL: "http://x"}
	const n = MaxResults + 5
	var aliceID string
	for i := range n {
		doc := map[string]any{"schemas": []any{scim.SchemaUser}, "userName": fmt.Sprintf("user%04d@example.com", n-i)}
		if i == 0 {
			doc["userName"], doc["externalId"] = "Alice@Example.com", "ABC-123"
		}
		got, err := s.Create(ctx, call, store.KindUser, doc)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			aliceID, _ = got.Doc["id"].(string)
		}
	}
	grp, err := s.Create(ctx, call, store.KindGroup, map[string]any{"schemas": []any{scim.SchemaGroup}, "displayName": "Sales"})
	if err != nil {
		t.Fatal(err)
	}

	for _, ref := range []string{aliceID, "Alice@Example.com"} {
		d, err := s.Find(ctx, call, store.KindUser, ref, schema.Projection{})
		if err != nil || d["id"] != aliceID || d["userName"] != "Alice@Example.com" {
			t.Errorf("Find(%q) = %v, %v", ref, d["id"], err)
		}
	}
	if d, err := s.Find(ctx, call, store.KindGroup, "Sales", schema.Projection{}); err != nil || d["id"] != grp.Doc["id"] {
		t.Errorf("Find(group Sales) = %v, %v", d, err)
	}
	if d, err := s.Find(ctx, call, store.KindUser, "nobody", schema.Projection{}); d != nil || err != nil {
		t.Errorf("Find(nobody) = %v, %v; want nil, nil", d, err)
	}

	docs, total, err := s.ListDocs(ctx, call, store.KindUser, "", schema.Projection{}, n+10)
	if err != nil || total != n || len(docs) != n {
		t.Fatalf("ListDocs(all) = %d docs of %d, %v; want %d", len(docs), total, err, n)
	}
	for i := 1; i < len(docs); i++ {
		if a, b := docs[i-1]["userName"].(string), docs[i]["userName"].(string); a > b {
			t.Fatalf("ListDocs not sorted by userName: %q before %q", a, b)
		}
	}
	if docs, total, err := s.ListDocs(ctx, call, store.KindUser, "", schema.Projection{}, 3); err != nil || total != n || len(docs) != 3 {
		t.Errorf("ListDocs(limit 3) = %d docs of %d, %v", len(docs), total, err)
	}
	// externalId is case-exact: the search tries the text in lower and upper case too.
	flt := AndFilters(SearchFilter(store.KindUser, "abc-1"), "", `userName sw "A"`)
	if docs, _, err := s.ListDocs(ctx, call, store.KindUser, flt, schema.Projection{}, 10); err != nil || len(docs) != 1 || docs[0]["id"] != aliceID {
		t.Errorf("ListDocs(%s) = %v, %v; want Alice", flt, docs, err)
	}
	if docs, _, err := s.ListDocs(ctx, call, store.KindGroup, SearchFilter(store.KindGroup, "ale"), schema.Projection{}, 10); err != nil || len(docs) != 1 {
		t.Errorf("ListDocs(groups, search ale) = %v, %v", docs, err)
	}
	var se *scim.Error
	if _, _, err := s.ListDocs(ctx, call, store.KindUser, `userName eq`, schema.Projection{}, 10); !errors.As(err, &se) || se.Status != scim.StatusBadRequest {
		t.Errorf("ListDocs with a bad filter = %v, want a 400 *scim.Error", err)
	}
	if got := QuoteFilter(`a "b"`); got != `"a \"b\""` {
		t.Errorf("QuoteFilter = %s", got)
	}
	if got := AndFilters("", " "); got != "" {
		t.Errorf("AndFilters of blanks = %q", got)
	}
}
