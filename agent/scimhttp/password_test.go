package scimhttp_test

import (
	"bytes"
	"github.com/rosterhq/roster/agent/scim"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rosterhq/roster/store"
)

// TestPasswordsAreNeverStored: Entra can map a password; Roster accepts the
// request but keeps no trace of the value, in responses or on disk.
func TestPasswordsAreNeverStored(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	const secret = "Sup3r-Secret-Passw0rd"
	r := c.do(t, http.MethodPost, "/Users", map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "pw@acme.test", "password": secret}, nil)
	wantStatus(t, r, http.StatusCreated)
	id, _ := r.obj(t)["id"].(string)
	r = c.do(t, http.MethodPatch, "/Users/"+id, patchBody(op("Replace", "password", secret+"2")), nil)
	wantStatus(t, r, http.StatusOK)
	r = c.do(t, http.MethodPut, "/Users/"+id, map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "pw@acme.test", "password": secret + "3"}, nil)
	wantStatus(t, r, http.StatusOK)
	got := c.do(t, http.MethodGet, "/Users/"+id, nil, nil)
	if body := string(got.Body); strings.Contains(body, secret) || strings.Contains(body, "password") {
		t.Errorf("GET returns the password: %s", body)
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(a.db.Path()), "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s contains the password", filepath.Base(f))
		}
	}
}
