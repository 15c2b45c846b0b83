package scimhttp_test

// What issue 12 adds beyond refusals: the search at the service root,
// case-insensitive resource segments, value-filtered attributes entries,
// declared custom extension attributes, and the leniencies that stay
// (docs/scim-leniencies.md) — each accepted where a Microsoft document says
// Entra or its test collection sends it.

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/store"
)

func TestRootSearch(t *testing.T) {
	a := newTestAgent(t)
	tenantURL, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(tenantURL, tok)
	ann := createUser(t, c, userDoc("ann@acme.test", map[string]any{"displayName": "Sales Ann"}))
	createUser(t, c, userDoc("bob@acme.test", map[string]any{"displayName": "Support Bob"}))
	createUser(t, c, userDoc("sue@acme.test", map[string]any{"displayName": "Sales Sue"}))
	sales := createGroup(t, c, "Sales", ann)
	createGroup(t, c, "Sales EMEA")

	search := func(body map[string]any) *listResponse {
		t.Helper()
		body["schemas"] = []any{scim.MessageSearch}
		r := c.do(t, http.MethodPost, "/.search", body, nil)
		wantStatus(t, r, http.StatusOK)
		return r.list(t)
	}
	ids := func(lr *listResponse) []string {
		var out []string
		for _, r := range lr.Resources {
			out = append(out, r["meta"].(map[string]any)["resourceType"].(string)+":"+r["displayName"].(string))
		}
		return out
	}

	tests := []struct {
		name  string
		body  map[string]any
		total int
		want  []string
	}{
		{"users then groups", map[string]any{"filter": `displayName sw "Sales"`},
			4, []string{"User:Sales Ann", "User:Sales Sue", "Group:Sales", "Group:Sales EMEA"}},
		{"a page across the boundary", map[string]any{"filter": `displayName sw "Sales"`, "startIndex": 2, "count": 2},
			4, []string{"User:Sales Sue", "Group:Sales"}},
		{"a page of groups only", map[string]any{"filter": `displayName sw "Sales"`, "startIndex": 4, "count": 5},
			4, []string{"Group:Sales EMEA"}},
		{"count 0 gives the total", map[string]any{"filter": `displayName sw "Sales"`, "count": 0}, 4, nil},
		{"a filter only groups match", map[string]any{"filter": `id eq "` + sales + `"`}, 1, []string{"Group:Sales"}},
		{"no filter lists everything", map[string]any{}, 5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lr := search(tt.body)
			if lr.TotalResults != tt.total {
				t.Errorf("totalResults: got %d, want %d", lr.TotalResults, tt.total)
			}
			if tt.want != nil && !slices.Equal(ids(lr), tt.want) {
				t.Errorf("resources: got %v, want %v", ids(lr), tt.want)
			}
			if lr.ItemsPerPage != len(lr.Resources) {
				t.Errorf("itemsPerPage %d, but %d resources", lr.ItemsPerPage, len(lr.Resources))
			}
		})
	}
	t.Run("projection per type", func(t *testing.T) {
		lr := search(map[string]any{"filter": `displayName eq "Sales"`, "attributes": []any{"displayName"}})
		if len(lr.Resources) != 1 {
			t.Fatalf("got %d resources", len(lr.Resources))
		}
		if _, ok := lr.Resources[0]["members"]; ok {
			t.Errorf("members returned although only displayName was asked for: %v", lr.Resources[0])
		}
	})
}

func TestCaseInsensitiveRoutes(t *testing.T) {
	a := newTestAgent(t)
	tenantURL, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(tenantURL, tok)
	id := createUser(t, c, userDoc("ann@acme.test", nil))
	gid := createGroup(t, c, "Staff", id)
	for _, p := range []string{"/users", "/USERS", "/users/" + id, "/groups?excludedAttributes=members", "/Groups/" + gid, "/schemas", "/resourcetypes", "/serviceproviderconfig"} {
		t.Run(p, func(t *testing.T) {
			wantStatus(t, c.do(t, http.MethodGet, p, nil, nil), http.StatusOK)
		})
	}
	t.Run("search", func(t *testing.T) {
		lr := c.do(t, http.MethodPost, "/users/.SEARCH", map[string]any{"filter": `userName eq "ann@acme.test"`}, nil).list(t)
		if lr.TotalResults != 1 {
			t.Errorf("totalResults %d, want 1", lr.TotalResults)
		}
	})
	t.Run("create", func(t *testing.T) {
		wantStatus(t, c.do(t, http.MethodPost, "/users", userDoc("bob@acme.test", nil), nil), http.StatusCreated)
	})
}

func TestAttributesWithValueFilter(t *testing.T) {
	a := newTestAgent(t)
	tenantURL, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(tenantURL, tok)
	id := createUser(t, c, userDoc("ann@acme.test", map[string]any{
		"displayName": "Ann", "title": "Boss",
		"emails": []any{map[string]any{"type": "work", "value": "ann@acme.test"}},
	}))
	for _, p := range []string{
		"/Users/" + id + "?attributes=" + q(`emails[type eq "work"]`),
		"/Users?filter=" + q(`userName eq "ann@acme.test"`) + "&attributes=" + q(`emails[type eq "work"]`),
		"/Users/" + id + "?attributes=" + q(`emails[type eq "work"].value`),
	} {
		t.Run(p, func(t *testing.T) {
			r := c.do(t, http.MethodGet, p, nil, nil)
			wantStatus(t, r, http.StatusOK)
			doc := r.obj(t)
			if lr, ok := doc["Resources"].([]any); ok {
				doc = lr[0].(map[string]any)
			}
			if _, ok := doc["emails"]; !ok {
				t.Errorf("emails missing: %v", doc)
			}
			for _, k := range []string{"title", "displayName"} {
				if _, ok := doc[k]; ok {
					t.Errorf("%s returned although only emails was asked for", k)
				}
			}
		})
	}
}

func TestDeclaredExtensionAttributes(t *testing.T) {
	const urn = "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User"
	ctx := context.Background()
	a := newTestAgent(t)
	tenantURL, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(tenantURL, tok)

	body := userDoc("ann@acme.test", map[string]any{urn: map[string]any{"costCode": "C-42", "badge": 7}})
	body["schemas"] = []any{scim.SchemaUser, urn}
	r := c.do(t, http.MethodPost, "/Users", body, nil)
	wantSCIMError(t, r, http.StatusBadRequest, scim.InvalidPath)
	if !strings.Contains(string(r.Body), "roster tenant extension add") {
		t.Errorf("the error does not name the command that declares the attribute: %s", r.Body)
	}

	if _, err := a.dir.DeclareExtension(ctx, "acme", urn+":costCode", "string", false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.dir.DeclareExtension(ctx, "acme", urn+":badge", "integer", false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.dir.DeclareExtension(ctx, "acme", urn+":BADGE", "string", false); err == nil {
		t.Error("declaring badge twice (in another case) succeeded")
	}
	for _, bad := range [][2]string{
		{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:x", "string"},
		{"urn:example:User:x", "string"},
		{urn + ":9lives", "string"},
		{urn + ":ok", "complex"},
	} {
		if _, err := a.dir.DeclareExtension(ctx, "acme", bad[0], bad[1], false); err == nil {
			t.Errorf("declaring %s (%s) succeeded", bad[0], bad[1])
		}
	}

	id := createUser(t, c, body)
	got := c.do(t, http.MethodGet, "/Users/"+id, nil, nil).obj(t)
	ext, _ := got[urn].(map[string]any)
	if ext["costCode"] != "C-42" || ext["badge"] != float64(7) {
		t.Errorf("stored extension: got %v", got[urn])
	}
	if !slices.Contains(anyStrings(got["schemas"]), urn) {
		t.Errorf("schemas %v lack %s", got["schemas"], urn)
	}
	lr := c.do(t, http.MethodGet, "/Users?filter="+q(urn+`:costCode eq "c-42"`), nil, nil).list(t)
	if lr.TotalResults != 1 {
		t.Errorf("filter on the extension attribute: totalResults %d, want 1", lr.TotalResults)
	}
	lr = c.do(t, http.MethodGet, "/Users?filter="+q(urn+`:badge gt 5`), nil, nil).list(t)
	if lr.TotalResults != 1 {
		t.Errorf("filter on the integer extension attribute: totalResults %d, want 1", lr.TotalResults)
	}
	r = c.do(t, http.MethodPatch, "/Users/"+id, patchBody(op("Replace", urn+":badge", 8)), nil)
	wantStatus(t, r, http.StatusOK)
	wantSCIMError(t, c.do(t, http.MethodPatch, "/Users/"+id, patchBody(op("Replace", urn+":badge", "8")), nil), http.StatusBadRequest, scim.InvalidValue)

	if err := a.dir.RemoveExtension(ctx, "acme", urn+":badge"); err != nil {
		t.Fatal(err)
	}
	wantSCIMError(t, c.do(t, http.MethodPatch, "/Users/"+id, patchBody(op("Replace", urn+":badge", 9)), nil), http.StatusBadRequest, scim.InvalidPath)
	wantStatus(t, c.do(t, http.MethodPatch, "/Users/"+id, patchBody(op("Replace", urn+":costCode", "C-43")), nil), http.StatusOK)
	if err := a.dir.RemoveExtension(ctx, "acme", urn+":badge"); err == nil {
		t.Error("removing an undeclared attribute succeeded")
	}

	t.Run("group extension", func(t *testing.T) {
		const gurn = "urn:ietf:params:scim:schemas:extension:Contoso:2.0:Group"
		if _, err := a.dir.DeclareExtension(ctx, "acme", gurn+":mailEnabled", "boolean", false); err != nil {
			t.Fatal(err)
		}
		g := groupDoc("Mail list")
		g[gurn+":mailEnabled"] = "True"
		r := c.do(t, http.MethodPost, "/Groups", g, nil)
		wantStatus(t, r, http.StatusCreated)
		if ext, _ := r.obj(t)[gurn].(map[string]any); ext["mailEnabled"] != true {
			t.Errorf("group extension: got %v", r.obj(t)[gurn])
		}
		u := userDoc("bob@acme.test", map[string]any{gurn + ":mailEnabled": true})
		wantSCIMError(t, c.do(t, http.MethodPost, "/Users", u, nil), http.StatusBadRequest, scim.InvalidPath)
	})
}

// TestLeniencies pins each leniency of docs/scim-leniencies.md that no
// Entra fixture covers on its own.
func TestLeniencies(t *testing.T) {
	a := newTestAgent(t)
	tenantURL, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(tenantURL, tok)
	boss := createUser(t, c, userDoc("boss@acme.test", nil))
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
	}{
		{"string boolean in any case", http.MethodPost, "/Users", userDoc("a@acme.test", map[string]any{"active": "TRUE"}), http.StatusCreated},
		{"string boolean in a sub-attribute", http.MethodPost, "/Users", userDoc("b@acme.test", map[string]any{
			"emails": []any{map[string]any{"value": "b@acme.test", "primary": "True"}}}), http.StatusCreated},
		{"manager as a string id", http.MethodPost, "/Users", userDoc("c@acme.test", map[string]any{scim.SchemaEnterpriseUser: map[string]any{"manager": boss}}), http.StatusCreated},
		{"manager as a one-element array", http.MethodPost, "/Users", userDoc("d@acme.test", map[string]any{scim.SchemaEnterpriseUser: map[string]any{"manager": []any{map[string]any{"value": boss}}}}), http.StatusCreated},
		{"misspelt and foreign schema URNs beside the core one", http.MethodPost, "/Users", userDoc("e@acme.test", map[string]any{
			"schemas": []any{scim.SchemaUser, "urn:ietf:params:scim:schemas:extension:enterprise:2.0User", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/User"}}), http.StatusCreated},
		{"null for an attribute no schema defines", http.MethodPost, "/Users", userDoc("f@acme.test", map[string]any{"department": nil, "manager": nil}), http.StatusCreated},
		{"read-only attributes in a create are ignored", http.MethodPost, "/Users", userDoc("g@acme.test", map[string]any{
			"id": "mine", "meta": map[string]any{"resourceType": "User"}, "groups": []any{}}), http.StatusCreated},
		{"empty string means unassigned", http.MethodPost, "/Users", userDoc("h@acme.test", map[string]any{"title": "", "nickName": ""}), http.StatusCreated},
		{"multi-line street address", http.MethodPost, "/Users", userDoc("i@acme.test", map[string]any{
			"addresses": []any{map[string]any{"type": "work", "streetAddress": "1 Main St\nSuite 2", "formatted": "1 Main St\r\nSuite 2\r\nOslo"}}}), http.StatusCreated},
		{"capitalised op and unqualified manager path", http.MethodPatch, "/Users/" + boss, patchBody(op("Add", "manager", boss)), http.StatusOK},
		{"query parameter names in any case", http.MethodGet, "/Users?FILTER=" + q(`userName eq "boss@acme.test"`) + "&Count=1", nil, http.StatusOK},
		{"unknown query parameters are ignored", http.MethodGet, "/Users?aadOptscim062020&filter=" + q(`userName pr`), nil, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do(t, tt.method, tt.path, tt.body, nil)
			wantStatus(t, r, tt.status)
		})
	}
	t.Run("read-only id in a create is not taken", func(t *testing.T) {
		wantSCIMError(t, c.do(t, http.MethodGet, "/Users/mine", nil, nil), http.StatusNotFound, "")
	})
	t.Run("replace ignores read-only values (RFC 7644 §3.5.1)", func(t *testing.T) {
		r := c.do(t, http.MethodPut, "/Users/"+boss, userDoc("boss@acme.test", map[string]any{
			"id": "other", "meta": map[string]any{"created": "2000-01-01T00:00:00Z", "version": `W/"99"`},
			"groups": []any{map[string]any{"value": "g"}}, "title": "CEO"}), nil)
		wantStatus(t, r, http.StatusOK)
		doc := r.obj(t)
		if doc["id"] != boss || doc["title"] != "CEO" {
			t.Errorf("after PUT: id %v, title %v; want %s, CEO", doc["id"], doc["title"], boss)
		}
		if created := metaOf(doc)["created"]; created == "2000-01-01T00:00:00Z" {
			t.Errorf("meta.created was taken from the body")
		}
		if _, ok := doc["groups"]; ok {
			t.Errorf("groups were taken from the body: %v", doc["groups"])
		}
	})
}
