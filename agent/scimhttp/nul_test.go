package scimhttp_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/store"
)

// TestNULInLookups: a NUL in a resource id or a member value (PostgreSQL's
// text cannot hold one) is looked up like any id that does not exist, on
// both backends: 404 for the resource, 400 for a member to add, nothing
// removed for a member filter — never a 500.
func TestNULInLookups(t *testing.T) { onBackends(t, nulInLookups) }

func nulInLookups(t *testing.T, b backend) {
	a := newTestAgentOn(t, b)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	uid := createUsers(t, c, "nul", 1)[0]
	gid := createGroup(t, c, "Everyone", uid)
	id := url.PathEscape("a\x00b")
	replace := `{"schemas":["` + scim.MessagePatchOp + `"],"Operations":[{"op":"replace","path":"displayName","value":"x"}]}`
	for _, tt := range []struct {
		method, path string
		body         any
		status       int
	}{
		{http.MethodGet, "/Users/" + id, nil, http.StatusNotFound},
		{http.MethodGet, "/Groups/" + id, nil, http.StatusNotFound},
		{http.MethodPatch, "/Users/" + id, replace, http.StatusNotFound},
		{http.MethodPatch, "/Groups/" + id, replace, http.StatusNotFound},
		{http.MethodPut, "/Users/" + id, userDoc("put@acme.test", nil), http.StatusNotFound},
		{http.MethodDelete, "/Users/" + id, nil, http.StatusNotFound},
		{http.MethodDelete, "/Groups/" + id, nil, http.StatusNotFound},
		{http.MethodPatch, "/Groups/" + gid, `{"schemas":["` + scim.MessagePatchOp + `"],"Operations":[{"op":"add","path":"members","value":[{"value":"a\u0000b"}]}]}`, http.StatusBadRequest},
		{http.MethodPatch, "/Groups/" + gid, `{"schemas":["` + scim.MessagePatchOp + `"],"Operations":[{"op":"remove","path":"members[value eq \"a\u0000b\"]"}]}`, http.StatusNoContent},
		{http.MethodPatch, "/Groups/" + gid, `{"schemas":["` + scim.MessagePatchOp + `"],"Operations":[{"op":"remove","path":"members","value":[{"value":"` + uid + `\u0000"}]}]}`, http.StatusNoContent},
	} {
		r := c.do(t, tt.method, tt.path, tt.body, nil)
		if r.Status != tt.status {
			t.Errorf("%s %q: got %d %s, want %d", tt.method, tt.path, r.Status, r.Body, tt.status)
		}
	}
	r := c.do(t, http.MethodGet, "/Groups/"+gid, nil, nil)
	wantStatus(t, r, http.StatusOK)
	if got := memberIDs(r.obj(t)); len(got) != 1 || got[0] != uid {
		t.Errorf("members after the NUL requests: got %v, want [%s]", got, uid)
	}
}
