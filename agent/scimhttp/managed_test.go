package scimhttp_test

import (
	"context"
	"github.com/rosterhq/roster/agent/scim"
	"net/http"
	"strings"
	"testing"

	"github.com/rosterhq/roster/store"
)

// TestEntraManagedAttributes: what a provisioning (Entra) token wrote for a
// user is managed; an app token may change the rest, never those.
func TestEntraManagedAttributes(t *testing.T) {
	a := newTestAgent(t)
	base, entraTok := a.tenant(t, "acme", store.TenantSettings{})
	app, err := a.dir.IssueAppToken(context.Background(), "acme", "hr-app", nil)
	if err != nil {
		t.Fatal(err)
	}
	entra, appC := newClient(base, entraTok), newClient(base, app.Token.Reveal())
	ent := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	r := entra.do(t, http.MethodPost, "/Users", map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "alice@acme.test", "active": true, "title": "Engineer",
		"name": map[string]any{"givenName": "Alice"}, ent: map[string]any{"department": "R&D"}}, nil)
	wantStatus(t, r, http.StatusCreated)
	id, _ := r.obj(t)["id"].(string)

	tests := []struct {
		name   string
		client *scimClient
		body   any
		status int
		detail string
	}{
		{"app cannot change a managed attribute", appC, patchBody(op("Replace", "title", "CTO")), http.StatusBadRequest, "title is managed by Microsoft Entra ID"},
		{"app cannot change a managed sub-attribute's attribute", appC, patchBody(op("Replace", "name.familyName", "Smith")), http.StatusBadRequest, "name is managed"},
		{"app cannot change a managed extension attribute", appC, patchBody(op("Replace", ent+":department", "Sales")), http.StatusBadRequest, ent + ":department is managed"},
		{"app cannot disable a user Entra provisions", appC, patchBody(op("Replace", "active", "False")), http.StatusBadRequest, "active is managed"},
		{"app may set what Entra does not manage", appC, patchBody(op("Add", "nickName", "Ali"), op("Add", ent+":costCenter", "CC1")), http.StatusOK, ""},
		{"app may change its own attribute again", appC, patchBody(op("Replace", "nickName", "Al")), http.StatusOK, ""},
		{"a no-op write of a managed value is fine", appC, patchBody(op("Replace", "title", "Engineer")), http.StatusOK, ""},
		{"Entra changes what it manages", entra, patchBody(op("Replace", "title", "CTO")), http.StatusOK, ""},
		{"Entra takes over an attribute by writing it", entra, patchBody(op("Replace", "nickName", "Alice")), http.StatusOK, ""},
		{"then the app cannot change it any more", appC, patchBody(op("Replace", "nickName", "A")), http.StatusBadRequest, "nickName is managed"},
		{"what Entra did not write stays the app's", appC, patchBody(op("Replace", ent+":costCenter", "CC2")), http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.client.do(t, http.MethodPatch, "/Users/"+id, tt.body, nil)
			if tt.status != http.StatusOK {
				wantSCIMError(t, r, tt.status, "mutability")
				if d := errDetail(t, r); !strings.Contains(d, tt.detail) {
					t.Errorf("detail got %q, want it to contain %q", d, tt.detail)
				}
				return
			}
			wantStatus(t, r, tt.status)
		})
	}
	t.Run("an app PUT that drops managed attributes is refused", func(t *testing.T) {
		r := appC.do(t, http.MethodPut, "/Users/"+id, map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "alice@acme.test"}, nil)
		wantSCIMError(t, r, http.StatusBadRequest, "mutability")
	})
	t.Run("a user the app created is the app's to change", func(t *testing.T) {
		r := appC.do(t, http.MethodPost, "/Users", map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "bot@acme.test", "title": "Robot"}, nil)
		wantStatus(t, r, http.StatusCreated)
		bot, _ := r.obj(t)["id"].(string)
		wantStatus(t, appC.do(t, http.MethodPatch, "/Users/"+bot, patchBody(op("Replace", "title", "Droid")), nil), http.StatusOK)
	})
}
