package scimhttp_test

// Table tests over real HTTP against a real SQLite file for what issue #2
// requires beyond the Entra replay fixtures: tenant isolation and tokens,
// SCIM error bodies, response headers and versions, list paging, sorting,
// projection and filters that cannot be indexed, group membership, PATCH
// response shapes, discovery, and provisioning events.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

// 1. Tenants and tokens.

func TestTenantIsolation(t *testing.T) {
	a := newTestAgent(t)
	urlA, tokA := a.tenant(t, "alpha", store.TenantSettings{})
	urlB, tokB := a.tenant(t, "beta", store.TenantSettings{})
	ca, cb := newClient(urlA, tokA), newClient(urlB, tokB)

	aUser := createUser(t, ca, userDoc("anna@alpha.test", nil))
	bUser := createUser(t, cb, userDoc("bert@beta.test", map[string]any{"displayName": "Bert"}))
	bGroup := createGroup(t, cb, "Beta staff", bUser)

	t.Run("token of another tenant gets 401", func(t *testing.T) {
		cross := newClient(urlB, tokA)
		tests := []struct {
			name, method, path string
			body               any
		}{
			{"list users", http.MethodGet, "/Users", nil},
			{"filter by userName", http.MethodGet, "/Users?filter=" + q(`userName eq "bert@beta.test"`), nil},
			{"get user by id", http.MethodGet, "/Users/" + bUser, nil},
			{"get group by id", http.MethodGet, "/Groups/" + bGroup, nil},
			{"list groups", http.MethodGet, "/Groups", nil},
			{"search", http.MethodPost, "/Users/.search", map[string]any{"filter": `userName sw "b"`}},
			{"discovery", http.MethodGet, "/ServiceProviderConfig", nil},
			{"create user", http.MethodPost, "/Users", userDoc("mallory@beta.test", nil)},
			{"replace user", http.MethodPut, "/Users/" + bUser, userDoc("bert@beta.test", map[string]any{"displayName": "pwned"})},
			{"patch user", http.MethodPatch, "/Users/" + bUser, patchBody(op("Replace", "active", false))},
			{"patch group members", http.MethodPatch, "/Groups/" + bGroup, addMembers(aUser)},
			{"delete user", http.MethodDelete, "/Users/" + bUser, nil},
			{"delete group", http.MethodDelete, "/Groups/" + bGroup, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := cross.do(t, tt.method, tt.path, tt.body, nil)
				wantSCIMError(t, r, http.StatusUnauthorized, "")
				if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate: got %q, want a Bearer challenge", got)
				}
				if strings.Contains(string(r.Body), "bert") || strings.Contains(string(r.Body), bUser) {
					t.Errorf("401 body leaks beta's data: %s", r.Body)
				}
			})
		}
	})

	t.Run("beta's data is untouched", func(t *testing.T) {
		u := cb.do(t, http.MethodGet, "/Users/"+bUser, nil, nil)
		wantStatus(t, u, http.StatusOK)
		doc := u.obj(t)
		if got, want := u.Header.Get("ETag"), `W/"1"`; got != want {
			t.Errorf("user ETag: got %s, want %s (never written)", got, want)
		}
		if got, want := doc["displayName"], "Bert"; got != want {
			t.Errorf("displayName: got %v, want %v", got, want)
		}
		if got, want := doc["active"], true; got != want {
			t.Errorf("active: got %v, want %v", got, want)
		}
		g := cb.do(t, http.MethodGet, "/Groups/"+bGroup, nil, nil)
		wantStatus(t, g, http.StatusOK)
		if got, want := memberIDs(g.obj(t)), []string{bUser}; !slices.Equal(got, want) {
			t.Errorf("group members: got %v, want %v", got, want)
		}
		if got, want := g.Header.Get("ETag"), `W/"1"`; got != want {
			t.Errorf("group ETag: got %s, want %s", got, want)
		}
		lr := cb.do(t, http.MethodGet, "/Users", nil, nil).list(t)
		if got, want := lr.names("userName"), []string{"bert@beta.test"}; !slices.Equal(got, want) {
			t.Errorf("beta's users: got %v, want %v", got, want)
		}
	})

	t.Run("own token cannot reach another tenant's ids", func(t *testing.T) {
		tests := []struct {
			name, method, path string
			body               any
			want               int
		}{
			{"get user", http.MethodGet, "/Users/" + bUser, nil, http.StatusNotFound},
			{"get group", http.MethodGet, "/Groups/" + bGroup, nil, http.StatusNotFound},
			{"replace user", http.MethodPut, "/Users/" + bUser, userDoc("bert@beta.test", nil), http.StatusNotFound},
			{"patch user", http.MethodPatch, "/Users/" + bUser, patchBody(op("Replace", "active", false)), http.StatusNotFound},
			{"patch group", http.MethodPatch, "/Groups/" + bGroup, addMembers(aUser), http.StatusNotFound},
			{"delete user", http.MethodDelete, "/Users/" + bUser, nil, http.StatusNotFound},
			{"delete group", http.MethodDelete, "/Groups/" + bGroup, nil, http.StatusNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantSCIMError(t, ca.do(t, tt.method, tt.path, tt.body, nil), tt.want, "")
			})
		}
		for _, f := range []string{`id eq "` + bUser + `"`, `userName eq "bert@beta.test"`, `userName sw "b"`, `title pr or userName sw "b"`} {
			t.Run("filter "+f, func(t *testing.T) {
				lr := ca.do(t, http.MethodGet, "/Users?filter="+q(f), nil, nil).list(t)
				if lr.TotalResults != 0 || len(lr.Resources) != 0 {
					t.Errorf("got totalResults %d, %v; want nothing of beta", lr.TotalResults, lr.names("userName"))
				}
			})
		}
	})

	t.Run("unknown tenant gets 401", func(t *testing.T) {
		for _, tn := range []string{"gamma", "Alpha", "alpha-x"} {
			c := newClient(scimhttp.TenantURL(a.srv.URL, tn), tokA)
			r := c.do(t, http.MethodGet, "/Users", nil, nil)
			wantSCIMError(t, r, http.StatusUnauthorized, "")
			if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("tenant %s: WWW-Authenticate: got %q, want a Bearer challenge", tn, got)
			}
		}
	})
}

func TestAuthorizationHeader(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	ctx := context.Background()

	// A token that is used (and so cached by the agent), then revoked.
	revoked := a.token(t, "acme", false)
	wantStatus(t, newClient(base, revoked).do(t, http.MethodGet, "/Users", nil, nil), http.StatusOK)
	if _, err := a.dir.RevokeToken(ctx, revoked); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	expired, err := a.dir.IssueToken(ctx, "acme", "expired", false, &past)
	if err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	expiring, err := a.dir.IssueToken(ctx, "acme", "expiring", false, &future)
	if err != nil {
		t.Fatal(err)
	}
	// Same shape and checksum rules, one secret character changed.
	tampered := []byte(tok)
	if tampered[20] == 'a' {
		tampered[20] = 'b'
	} else {
		tampered[20] = 'a'
	}

	tests := []struct {
		name string
		auth string // "" sends no Authorization header
		want int
	}{
		{"bearer token", "Bearer " + tok, http.StatusOK},
		{"lower-case scheme", "bearer " + tok, http.StatusOK},
		{"upper-case scheme", "BEARER " + tok, http.StatusOK},
		{"extra spaces", "Bearer    " + tok + "  ", http.StatusOK},
		{"token with a future expiry", "Bearer " + expiring.Token.Reveal(), http.StatusOK},
		{"no header", "", http.StatusUnauthorized},
		{"basic credentials", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+tok)), http.StatusUnauthorized},
		{"basic scheme with the token", "Basic " + tok, http.StatusUnauthorized},
		{"bearer with nothing", "Bearer", http.StatusUnauthorized},
		{"bearer and spaces", "Bearer   ", http.StatusUnauthorized},
		{"token without scheme", tok, http.StatusUnauthorized},
		{"not a roster token", "Bearer not-the-secret-token", http.StatusUnauthorized},
		{"tampered token", "Bearer " + string(tampered), http.StatusUnauthorized},
		{"revoked token", "Bearer " + revoked, http.StatusUnauthorized},
		{"expired token", "Bearer " + expired.Token.Reveal(), http.StatusUnauthorized},
	}
	c := newClient(base, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hdr{}
			if tt.auth != "" {
				h["Authorization"] = tt.auth
			}
			r := c.do(t, http.MethodGet, "/Users", nil, h)
			if tt.want == http.StatusOK {
				r.list(t)
				return
			}
			wantSCIMError(t, r, tt.want, "")
			if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate: got %q, want a Bearer challenge", got)
			}
		})
	}

	t.Run("revoked token cannot write", func(t *testing.T) {
		r := newClient(base, revoked).do(t, http.MethodPost, "/Users", userDoc("late@acme.test", nil), nil)
		wantSCIMError(t, r, http.StatusUnauthorized, "")
		lr := newClient(base, tok).do(t, http.MethodGet, "/Users?filter="+q(`userName eq "late@acme.test"`), nil, nil).list(t)
		if lr.TotalResults != 0 {
			t.Errorf("totalResults: got %d, want 0 (the revoked token's create must not happen)", lr.TotalResults)
		}
	})
}

func TestReadOnlyToken(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	rw := newClient(base, tok)
	ro := newClient(base, a.token(t, "acme", true))
	uid := createUser(t, rw, userDoc("reader@acme.test", nil))
	gid := createGroup(t, rw, "Readers", uid)

	tests := []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"list users", http.MethodGet, "/Users", nil, http.StatusOK},
		{"get user", http.MethodGet, "/Users/" + uid, nil, http.StatusOK},
		{"filter users", http.MethodGet, "/Users?filter=" + q(`userName eq "reader@acme.test"`), nil, http.StatusOK},
		{"get group", http.MethodGet, "/Groups/" + gid, nil, http.StatusOK},
		{"search is a read", http.MethodPost, "/Users/.search", map[string]any{"filter": `userName pr`}, http.StatusOK},
		{"discovery", http.MethodGet, "/Schemas", nil, http.StatusOK},
		{"create user", http.MethodPost, "/Users", userDoc("writer@acme.test", nil), http.StatusForbidden},
		{"create group", http.MethodPost, "/Groups", groupDoc("Writers"), http.StatusForbidden},
		{"replace user", http.MethodPut, "/Users/" + uid, userDoc("reader@acme.test", map[string]any{"title": "x"}), http.StatusForbidden},
		{"patch user", http.MethodPatch, "/Users/" + uid, patchBody(op("Replace", "active", false)), http.StatusForbidden},
		{"patch group", http.MethodPatch, "/Groups/" + gid, patchBody(op("Replace", "displayName", "x")), http.StatusForbidden},
		{"delete user", http.MethodDelete, "/Users/" + uid, nil, http.StatusForbidden},
		{"delete group", http.MethodDelete, "/Groups/" + gid, nil, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ro.do(t, tt.method, tt.path, tt.body, nil)
			if tt.want == http.StatusOK {
				wantStatus(t, r, http.StatusOK)
				return
			}
			wantSCIMError(t, r, tt.want, "")
		})
	}

	t.Run("nothing changed", func(t *testing.T) {
		for _, p := range []string{"/Users/" + uid, "/Groups/" + gid} {
			r := rw.do(t, http.MethodGet, p, nil, nil)
			wantStatus(t, r, http.StatusOK)
			if got, want := r.Header.Get("ETag"), `W/"1"`; got != want {
				t.Errorf("GET %s: ETag got %s, want %s", p, got, want)
			}
		}
		if got := rw.do(t, http.MethodGet, "/Users", nil, nil).list(t).TotalResults; got != 1 {
			t.Errorf("users: got %d, want 1", got)
		}
		if got := rw.do(t, http.MethodGet, "/Groups", nil, nil).list(t).TotalResults; got != 1 {
			t.Errorf("groups: got %d, want 1", got)
		}
	})
}

// 2. Errors are SCIM error bodies.

// bigBody returns a valid JSON user of exactly n bytes.
func bigBody(n int) string {
	head, tail := `{"userName":"big@acme.test","nickName":"`, `"}`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}

func TestErrorResponses(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	uid := createUser(t, c, userDoc("taken@acme.test", nil))
	gid := createGroup(t, c, "Taken")

	over := bigBody(scimhttp.MaxBodyBytes + 1)
	if !json.Valid([]byte(over)) || len(over) != 1<<20+1 {
		t.Fatalf("bad test body: %d bytes", len(over))
	}

	tests := []struct {
		name, method, path string
		body               any
		h                  hdr
		status             int
		scimType           string
	}{
		{"unknown SCIM endpoint", http.MethodGet, "/Foo", nil, nil, http.StatusNotFound, ""},
		{"unknown nested endpoint", http.MethodGet, "/Users/" + uid + "/extra", nil, nil, http.StatusNotFound, ""},
		{"outside /scim", http.MethodGet, a.srv.URL + "/nope", nil, nil, http.StatusNotFound, ""},
		{"unknown user id", http.MethodGet, "/Users/00000000-0000-4000-8000-000000000000", nil, nil, http.StatusNotFound, ""},
		{"unknown schema", http.MethodGet, "/Schemas/urn:nope", nil, nil, http.StatusNotFound, ""},
		{"DELETE /Users", http.MethodDelete, "/Users", nil, nil, http.StatusMethodNotAllowed, ""},
		{"PUT /Groups", http.MethodPut, "/Groups", groupDoc("x"), nil, http.StatusMethodNotAllowed, ""},
		{"POST /Users/{id}", http.MethodPost, "/Users/" + uid, userDoc("x@acme.test", nil), nil, http.StatusMethodNotAllowed, ""},
		{"GET /Users/.search", http.MethodGet, "/Users/.search", nil, nil, http.StatusMethodNotAllowed, ""},
		{"DELETE /Schemas", http.MethodDelete, "/Schemas", nil, nil, http.StatusMethodNotAllowed, ""},
		{"POST body over 1 MiB", http.MethodPost, "/Users", over, nil, http.StatusRequestEntityTooLarge, ""},
		{"PUT body over 1 MiB", http.MethodPut, "/Users/" + uid, over, nil, http.StatusRequestEntityTooLarge, ""},
		{"PATCH body over 1 MiB", http.MethodPatch, "/Users/" + uid, over, nil, http.StatusRequestEntityTooLarge, ""},
		{"search body over 1 MiB", http.MethodPost, "/Users/.search", over, nil, http.StatusRequestEntityTooLarge, ""},
		{"JSON array body", http.MethodPost, "/Users", `[{"userName":"arr@acme.test"}]`, nil, http.StatusBadRequest, scim.InvalidSyntax},
		{"JSON null body", http.MethodPost, "/Users", `null`, nil, http.StatusBadRequest, scim.InvalidSyntax},
		{"empty body", http.MethodPost, "/Users", ``, nil, http.StatusBadRequest, scim.InvalidSyntax},
		{"not JSON", http.MethodPost, "/Users", `userName=x`, nil, http.StatusBadRequest, scim.InvalidSyntax},
		{"trailing garbage", http.MethodPost, "/Users", `{"userName":"trail1@acme.test"} garbage`, nil, http.StatusBadRequest, scim.InvalidSyntax},
		{"trailing second object", http.MethodPost, "/Users", `{"userName":"trail2@acme.test"}{}`, nil, http.StatusBadRequest, scim.InvalidSyntax},
		{"trailing close brace", http.MethodPost, "/Users", `{"userName":"trail3@acme.test"}}`, nil, http.StatusBadRequest, scim.InvalidSyntax},
		{"trailing close bracket", http.MethodPost, "/Users", `{"userName":"trail4@acme.test"}]`, nil, http.StatusBadRequest, scim.InvalidSyntax},
		{"PUT trailing close brace", http.MethodPut, "/Users/" + uid, `{"userName":"taken@acme.test","title":"t"}}`, nil, http.StatusBadRequest, scim.InvalidSyntax},
		{"PATCH trailing garbage", http.MethodPatch, "/Users/" + uid, `{"Operations":[{"op":"add","path":"title","value":"x"}]} x`, nil, http.StatusBadRequest, scim.InvalidSyntax},
		{"PATCH array body", http.MethodPatch, "/Users/" + uid, `[]`, nil, http.StatusBadRequest, scim.InvalidSyntax},
		{"search array body", http.MethodPost, "/Users/.search", `[]`, nil, http.StatusBadRequest, scim.InvalidSyntax},
		{"count=abc", http.MethodGet, "/Users?count=abc", nil, nil, http.StatusBadRequest, scim.InvalidValue},
		{"startIndex=one", http.MethodGet, "/Users?startIndex=one", nil, nil, http.StatusBadRequest, scim.InvalidValue},
		{"sortOrder=sideways", http.MethodGet, "/Users?sortBy=userName&sortOrder=sideways", nil, nil, http.StatusBadRequest, scim.InvalidValue},
		{"bad filter", http.MethodGet, "/Users?filter=" + q(`userName eq`), nil, nil, http.StatusBadRequest, scim.InvalidFilter},
		{"userName missing", http.MethodPost, "/Users", map[string]any{"schemas": []any{scim.SchemaUser}, "active": true}, nil, http.StatusBadRequest, scim.InvalidValue},
		{"userName blank", http.MethodPost, "/Users", userDoc("   ", nil), nil, http.StatusBadRequest, scim.InvalidValue},
		{"displayName missing", http.MethodPost, "/Groups", map[string]any{"schemas": []any{scim.SchemaGroup}}, nil, http.StatusBadRequest, scim.InvalidValue},
		{"active maybe", http.MethodPost, "/Users", userDoc("maybe@acme.test", map[string]any{"active": "maybe"}), nil, http.StatusBadRequest, scim.InvalidValue},
		{"PATCH active maybe", http.MethodPatch, "/Users/" + uid, patchBody(op("Replace", "active", "maybe")), nil, http.StatusBadRequest, scim.InvalidValue},
		{"duplicate userName", http.MethodPost, "/Users", userDoc("taken@acme.test", nil), nil, http.StatusConflict, scim.Uniqueness},
		{"duplicate userName, other case", http.MethodPost, "/Users", userDoc("TAKEN@Acme.Test", nil), nil, http.StatusConflict, scim.Uniqueness},
		{"duplicate displayName", http.MethodPost, "/Groups", groupDoc("taken"), nil, http.StatusConflict, scim.Uniqueness},
		{"PATCH to a taken displayName", http.MethodPatch, "/Groups/" + createGroup(t, c, "Other"), patchBody(op("Replace", "displayName", "Taken")), nil, http.StatusConflict, scim.Uniqueness},
		{"PATCH userName to a taken one", http.MethodPatch, "/Users/" + createUser(t, c, userDoc("free@acme.test", nil)), patchBody(op("Replace", "userName", "Taken@acme.test")), nil, http.StatusConflict, scim.Uniqueness},
		{"PUT userName to a taken one", http.MethodPut, "/Users/" + createUser(t, c, userDoc("free2@acme.test", nil)), userDoc("taken@ACME.test", nil), nil, http.StatusConflict, scim.Uniqueness},
		{"If-Match mismatch on PATCH", http.MethodPatch, "/Groups/" + gid, patchBody(op("Replace", "displayName", "x")), hdr{"If-Match": `W/"7"`}, http.StatusPreconditionFailed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantSCIMError(t, c.do(t, tt.method, tt.path, tt.body, tt.h), tt.status, tt.scimType)
		})
	}

	t.Run("rejected bodies created nothing", func(t *testing.T) {
		lr := c.do(t, http.MethodGet, "/Users?sortBy=userName", nil, nil).list(t)
		if got, want := lr.names("userName"), []string{"free2@acme.test", "free@acme.test", "taken@acme.test"}; !slices.Equal(got, want) {
			t.Errorf("users: got %v, want %v", got, want)
		}
	})
}

func TestMethodNotAllowedAllowHeader(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	uid := createUser(t, c, userDoc("x@acme.test", nil))
	// RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field
	// in a 405 response containing a list of the target resource's currently
	// supported methods."
	tests := []struct {
		method, path string
		allow        []string
	}{
		{http.MethodDelete, "/Users", []string{"GET", "POST"}},
		{http.MethodPost, "/Users/" + uid, []string{"DELETE", "GET", "PATCH", "PUT"}},
		{http.MethodGet, "/Groups/.search", []string{"POST"}},
		{http.MethodPost, "/ServiceProviderConfig", []string{"GET"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := c.do(t, tt.method, tt.path, nil, nil)
			wantSCIMError(t, r, http.StatusMethodNotAllowed, "")
			var got []string
			for _, f := range strings.Split(r.Header.Get("Allow"), ",") {
				if f = strings.TrimSpace(f); f != "" {
					got = append(got, f)
				}
			}
			if !slices.Equal(sorted(got), tt.allow) {
				t.Errorf("Allow: got %q, want %v", r.Header.Get("Allow"), tt.allow)
			}
		})
	}
}

func TestPreconditions(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)

	// fresh returns a new user (version 1) and its current ETag read by GET.
	n := 0
	fresh := func(t *testing.T) (string, string) {
		n++
		id := createUser(t, c, userDoc("pre"+strconv.Itoa(n)+"@acme.test", nil))
		r := c.do(t, http.MethodGet, "/Users/"+id, nil, nil)
		wantStatus(t, r, http.StatusOK)
		return id, r.Header.Get("ETag")
	}
	const stale = `W/"99"`
	tests := []struct {
		name    string
		method  string
		body    func(n int) any
		ifMatch string // "etag" is replaced by the current ETag
		want    int
	}{
		{"PUT mismatch", http.MethodPut, func(n int) any { return userDoc("pre"+strconv.Itoa(n)+"@acme.test", map[string]any{"title": "x"}) }, stale, http.StatusPreconditionFailed},
		{"PATCH mismatch", http.MethodPatch, func(int) any { return patchBody(op("Replace", "title", "x")) }, stale, http.StatusPreconditionFailed},
		{"DELETE mismatch", http.MethodDelete, func(int) any { return nil }, stale, http.StatusPreconditionFailed},
		{"PATCH strong tag mismatch", http.MethodPatch, func(int) any { return patchBody(op("Replace", "title", "x")) }, `"2"`, http.StatusPreconditionFailed},
		{"PUT match", http.MethodPut, func(n int) any { return userDoc("pre"+strconv.Itoa(n)+"@acme.test", map[string]any{"title": "x"}) }, "etag", http.StatusOK},
		{"PATCH match", http.MethodPatch, func(int) any { return patchBody(op("Replace", "title", "x")) }, "etag", http.StatusOK},
		{"DELETE match", http.MethodDelete, func(int) any { return nil }, "etag", http.StatusNoContent},
		{"PATCH match in a list", http.MethodPatch, func(int) any { return patchBody(op("Replace", "title", "x")) }, `W/"5", etag`, http.StatusOK},
		{"PATCH If-Match *", http.MethodPatch, func(int) any { return patchBody(op("Replace", "title", "x")) }, "*", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, etag := fresh(t)
			if etag != `W/"1"` {
				t.Fatalf("ETag of a new user: got %q, want W/\"1\"", etag)
			}
			r := c.do(t, tt.method, "/Users/"+id, tt.body(n), hdr{"If-Match": strings.ReplaceAll(tt.ifMatch, "etag", etag)})
			after := c.do(t, http.MethodGet, "/Users/"+id, nil, nil)
			if tt.want == http.StatusPreconditionFailed {
				wantSCIMError(t, r, tt.want, "")
				wantStatus(t, after, http.StatusOK)
				if got := after.Header.Get("ETag"); got != etag {
					t.Errorf("after a 412 the ETag is %s, want %s (unchanged)", got, etag)
				}
				if _, ok := after.obj(t)["title"]; ok {
					t.Errorf("after a 412 the user has a title: %s", after.Body)
				}
				return
			}
			wantStatus(t, r, tt.want)
			if tt.method == http.MethodDelete {
				wantSCIMError(t, after, http.StatusNotFound, "")
				return
			}
			if got, want := after.obj(t)["title"], "x"; got != want {
				t.Errorf("title after %s: got %v, want %v", tt.method, got, want)
			}
			if got := r.Header.Get("ETag"); got == etag || got != after.Header.Get("ETag") {
				t.Errorf("ETag of the %s response: got %s, want the new version %s (was %s)", tt.method, got, after.Header.Get("ETag"), etag)
			}
		})
	}

	t.Run("stale ETag after a write", func(t *testing.T) {
		id, etag := fresh(t)
		wantStatus(t, c.do(t, http.MethodPatch, "/Users/"+id, patchBody(op("Replace", "title", "one")), hdr{"If-Match": etag}), http.StatusOK)
		for _, m := range []string{http.MethodPatch, http.MethodPut, http.MethodDelete} {
			var body any
			switch m {
			case http.MethodPatch:
				body = patchBody(op("Replace", "title", "two"))
			case http.MethodPut:
				body = userDoc("pre"+strconv.Itoa(n)+"@acme.test", map[string]any{"title": "two"})
			}
			wantSCIMError(t, c.do(t, m, "/Users/"+id, body, hdr{"If-Match": etag}), http.StatusPreconditionFailed, "")
		}
	})

	t.Run("group PATCH", func(t *testing.T) {
		gid := createGroup(t, c, "Precondition group")
		uid, _ := fresh(t)
		wantSCIMError(t, c.do(t, http.MethodPatch, "/Groups/"+gid, addMembers(uid), hdr{"If-Match": stale}), http.StatusPreconditionFailed, "")
		g := c.do(t, http.MethodGet, "/Groups/"+gid, nil, nil)
		if got := memberIDs(g.obj(t)); len(got) != 0 {
			t.Errorf("members after a 412: got %v, want none", got)
		}
		r := c.do(t, http.MethodPatch, "/Groups/"+gid, addMembers(uid), hdr{"If-Match": g.Header.Get("ETag")})
		wantStatus(t, r, http.StatusNoContent)
	})

	t.Run("If-None-Match", func(t *testing.T) {
		id, etag := fresh(t)
		gid := createGroup(t, c, "Conditional group")
		getG := c.do(t, http.MethodGet, "/Groups/"+gid, nil, nil)
		tests := []struct {
			name, path, inm string
			want            int
		}{
			{"user current ETag", "/Users/" + id, etag, http.StatusNotModified},
			{"user star", "/Users/" + id, "*", http.StatusNotModified},
			{"user stale ETag", "/Users/" + id, stale, http.StatusOK},
			{"user other tag list", "/Users/" + id, `W/"11", W/"21"`, http.StatusOK},
			{"group current ETag", "/Groups/" + gid, getG.Header.Get("ETag"), http.StatusNotModified},
			{"group with excludedAttributes", "/Groups/" + gid + "?excludedAttributes=members", getG.Header.Get("ETag"), http.StatusNotModified},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := c.do(t, http.MethodGet, tt.path, nil, hdr{"If-None-Match": tt.inm})
				wantStatus(t, r, tt.want)
				if tt.want == http.StatusNotModified {
					if len(r.Body) != 0 {
						t.Errorf("304 body: got %q, want none", r.Body)
					}
					if r.Header.Get("ETag") == "" {
						t.Errorf("304 without ETag")
					}
				}
			})
		}
	})
}

// 3. Responses.

func TestCreateAndReadResponses(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)

	tests := []struct {
		name, endpoint string
		doc            map[string]any
	}{
		{"user", "/Users", userDoc("created@acme.test", map[string]any{"displayName": "Created"})},
		{"group", "/Groups", groupDoc("Created group")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do(t, http.MethodPost, tt.endpoint, tt.doc, nil)
			wantStatus(t, r, http.StatusCreated)
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, scim.MediaType) {
				t.Errorf("Content-Type: got %q, want %s", ct, scim.MediaType)
			}
			doc := r.obj(t)
			id, _ := doc["id"].(string)
			meta := metaOf(doc)
			if got, want := r.Header.Get("Location"), meta["location"]; got == "" || got != want {
				t.Errorf("Location: got %q, want meta.location %v", got, want)
			}
			if got, want := r.Header.Get("Location"), base+tt.endpoint+"/"+id; got != want {
				t.Errorf("Location: got %q, want %q", got, want)
			}
			if got, want := r.Header.Get("ETag"), meta["version"]; got == "" || got != want {
				t.Errorf("ETag: got %q, want meta.version %v", got, want)
			}
			if meta["created"] != meta["lastModified"] {
				t.Errorf("meta.created %v != meta.lastModified %v on a new resource", meta["created"], meta["lastModified"])
			}
			// The Location answers with the same resource.
			g := c.do(t, http.MethodGet, r.Header.Get("Location"), nil, nil)
			wantStatus(t, g, http.StatusOK)
			if got := g.obj(t)["id"]; got != id {
				t.Errorf("GET Location: id got %v, want %s", got, id)
			}
			if got, want := g.Header.Get("ETag"), r.Header.Get("ETag"); got != want {
				t.Errorf("GET ETag: got %s, want %s", got, want)
			}
		})
	}

	uid := createUser(t, c, userDoc("reader@acme.test", nil))
	t.Run("Accept", func(t *testing.T) {
		for _, accept := range []string{"", "application/json", scim.MediaType, "*/*", "application/scim+json, application/json;q=0.9"} {
			t.Run(strconv.Quote(accept), func(t *testing.T) {
				h := hdr{}
				if accept != "" {
					h["Accept"] = accept
				}
				for _, p := range []string{"/Users/" + uid, "/Users?filter=" + q(`userName eq "reader@acme.test"`)} {
					r := c.do(t, http.MethodGet, p, nil, h)
					wantStatus(t, r, http.StatusOK)
					if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, scim.MediaType) {
						t.Errorf("GET %s: Content-Type got %q, want %s", p, ct, scim.MediaType)
					}
				}
			})
		}
	})

	t.Run("request Content-Type", func(t *testing.T) {
		for i, ct := range []string{scim.MediaType, "application/scim+json; charset=utf-8", "application/json", "application/json; charset=utf-8", ""} {
			t.Run(strconv.Quote(ct), func(t *testing.T) {
				h := hdr{"Content-Type": ct} // "" sends none
				r := c.do(t, http.MethodPost, "/Users", userDoc("ct"+strconv.Itoa(i)+"@acme.test", nil), h)
				wantStatus(t, r, http.StatusCreated)
				id, _ := r.obj(t)["id"].(string)
				wantStatus(t, c.do(t, http.MethodPatch, "/Users/"+id, patchBody(op("Replace", "title", "t")), h), http.StatusOK)
				wantStatus(t, c.do(t, http.MethodPut, "/Users/"+id, userDoc("ct"+strconv.Itoa(i)+"@acme.test", nil), h), http.StatusOK)
				wantStatus(t, c.do(t, http.MethodPost, "/Users/.search", map[string]any{"filter": `id eq "` + id + `"`}, h), http.StatusOK)
			})
		}
	})
}

func TestVersionChanges(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	u := createUser(t, c, userDoc("ver@acme.test", nil))
	u2 := createUser(t, c, userDoc("ver2@acme.test", nil))
	g := createGroup(t, c, "Versioned")

	state := func(t *testing.T, path string) (etag, version, modified string) {
		t.Helper()
		r := c.do(t, http.MethodGet, path, nil, nil)
		wantStatus(t, r, http.StatusOK)
		m := metaOf(r.obj(t))
		v, _ := m["version"].(string)
		lm, _ := m["lastModified"].(string)
		if r.Header.Get("ETag") != v {
			t.Errorf("GET %s: ETag %q != meta.version %q", path, r.Header.Get("ETag"), v)
		}
		return r.Header.Get("ETag"), v, lm
	}

	steps := []struct {
		name         string
		method, path string // the request
		body         any
		status       int
		watch        string // the resource whose version is checked
		changes      bool
	}{
		{"user PATCH sets displayName", http.MethodPatch, "/Users/" + u, patchBody(op("Replace", "displayName", "Ver")), 200, "/Users/" + u, true},
		{"user PATCH same displayName", http.MethodPatch, "/Users/" + u, patchBody(op("Replace", "displayName", "Ver")), 200, "/Users/" + u, false},
		{"user PATCH active \"True\" when already true", http.MethodPatch, "/Users/" + u, patchBody(op("Replace", "active", "True")), 200, "/Users/" + u, false},
		{"user path-less PATCH same value", http.MethodPatch, "/Users/" + u, patchBody(op("replace", "", map[string]any{"displayName": "Ver"})), 200, "/Users/" + u, false},
		{"user PATCH disables", http.MethodPatch, "/Users/" + u, patchBody(op("Replace", "active", "False")), 200, "/Users/" + u, true},
		{"user PUT", http.MethodPut, "/Users/" + u, userDoc("ver@acme.test", map[string]any{"title": "Lead", "displayName": "Ver"}), 200, "/Users/" + u, true},
		{"group PATCH adds a member", http.MethodPatch, "/Groups/" + g, addMembers(u), 204, "/Groups/" + g, true},
		{"group PATCH re-adds the member", http.MethodPatch, "/Groups/" + g, addMembers(u), 204, "/Groups/" + g, false},
		{"group PATCH same displayName", http.MethodPatch, "/Groups/" + g, patchBody(op("Replace", "displayName", "Versioned")), 204, "/Groups/" + g, false},
		{"group PATCH rename", http.MethodPatch, "/Groups/" + g, patchBody(op("Replace", "displayName", "Versioned 2")), 204, "/Groups/" + g, true},
		{"group PATCH removes the member", http.MethodPatch, "/Groups/" + g, patchBody(op("Remove", "members", []any{map[string]any{"value": u}})), 204, "/Groups/" + g, true},
		{"group PATCH removes a non-member", http.MethodPatch, "/Groups/" + g, patchBody(op("Remove", "members", []any{map[string]any{"value": u}})), 204, "/Groups/" + g, false},
		{"group PUT with members", http.MethodPut, "/Groups/" + g, groupDoc("Versioned 2", u, u2), 200, "/Groups/" + g, true},
		// The group's representation (its members) changes when a member is
		// deleted, so its entity tag must change too: otherwise a GET with
		// If-None-Match answers 304 with a stale member list (RFC 7232 §2.1,
		// RFC 7644 §3.14).
		{"deleting a member user changes the group's version", http.MethodDelete, "/Users/" + u2, nil, 204, "/Groups/" + g, true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			etag, v, lm := state(t, st.watch)
			r := c.do(t, st.method, st.path, st.body, nil)
			wantStatus(t, r, st.status)
			etag2, v2, lm2 := state(t, st.watch)
			if st.changes {
				if v2 == v {
					t.Errorf("meta.version: got %s after the write, want it changed from %s", v2, v)
				}
				t1, _ := time.Parse(time.RFC3339Nano, lm)
				t2, _ := time.Parse(time.RFC3339Nano, lm2)
				if !t2.After(t1) {
					t.Errorf("meta.lastModified: got %s, want later than %s", lm2, lm)
				}
			} else {
				if v2 != v || etag2 != etag {
					t.Errorf("meta.version: got %s (ETag %s), want unchanged %s", v2, etag2, v)
				}
				if lm2 != lm {
					t.Errorf("meta.lastModified: got %s, want unchanged %s", lm2, lm)
				}
			}
			if st.path == st.watch && r.Header.Get("ETag") != "" && r.Header.Get("ETag") != etag2 {
				t.Errorf("response ETag: got %s, want %s", r.Header.Get("ETag"), etag2)
			}
			if st.path == st.watch && r.Status == http.StatusOK {
				if got := metaOf(r.obj(t))["version"]; got != v2 {
					t.Errorf("response meta.version: got %v, want %s", got, v2)
				}
			}
		})
	}
}

// 4. Lists.

func TestListPaging(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	// Created out of order so that sorting matters; title sorts like userName.
	for _, i := range []int{4, 1, 7, 2, 6, 3, 5} {
		createUser(t, c, userDoc("u"+strconv.Itoa(i)+"@acme.test", map[string]any{"title": "T" + strconv.Itoa(i)}))
	}
	u := func(is ...int) []string {
		out := []string{}
		for _, i := range is {
			out = append(out, "u"+strconv.Itoa(i)+"@acme.test")
		}
		return out
	}
	tests := []struct {
		name      string
		query     string
		wantStart int
		want      []string
	}{
		{"first page", "startIndex=1&count=3", 1, u(1, 2, 3)},
		{"second page", "startIndex=4&count=3", 4, u(4, 5, 6)},
		{"last partial page", "startIndex=7&count=3", 7, u(7)},
		{"past the end", "startIndex=8&count=3", 8, u()},
		{"startIndex=0 is 1", "startIndex=0&count=2", 1, u(1, 2)},
		{"negative startIndex is 1", "startIndex=-3&count=2", 1, u(1, 2)},
		{"count only", "count=2", 1, u(1, 2)},
		{"startIndex only", "startIndex=6", 6, u(6, 7)},
		{"count=0 gives the total only", "count=0", 1, u()},
		{"count=-1 is 0", "count=-1", 1, u()},
		{"count=-5 is 0", "count=-5", 1, u()},
		{"count larger than total", "count=100", 1, u(1, 2, 3, 4, 5, 6, 7)},
		{"no paging", "", 1, u(1, 2, 3, 4, 5, 6, 7)},
		{"parameter names are case-insensitive", "STARTINDEX=2&Count=2", 2, u(2, 3)},
	}
	variants := []struct{ name, query string }{
		{"indexed sort", "sortBy=userName"},
		{"in-memory sort", "sortBy=title"},
		{"in-memory filter", "sortBy=userName&filter=" + q(`title sw "T"`)},
		{"search", ""},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var r *reply
					if v.name == "search" {
						// The same paging through POST /.search (RFC 7644 §3.4.3).
						req := map[string]any{"schemas": []any{scim.MessageSearch}, "sortBy": "userName"}
						params, err := url.ParseQuery(tt.query)
						if err != nil {
							t.Fatal(err)
						}
						for k, vs := range params {
							n, err := strconv.Atoi(vs[0])
							if err != nil {
								t.Fatal(err)
							}
							switch strings.ToLower(k) {
							case "startindex":
								req["startIndex"] = n
							case "count":
								req["count"] = n
							}
						}
						r = c.do(t, http.MethodPost, "/Users/.search", req, nil)
					} else {
						r = c.do(t, http.MethodGet, "/Users?"+v.query+"&"+tt.query, nil, nil)
					}
					lr := r.list(t)
					if lr.TotalResults != 7 {
						t.Errorf("totalResults: got %d, want 7", lr.TotalResults)
					}
					if lr.StartIndex != tt.wantStart {
						t.Errorf("startIndex: got %d, want %d", lr.StartIndex, tt.wantStart)
					}
					if got := lr.names("userName"); !slices.Equal(got, tt.want) {
						t.Errorf("Resources: got %v, want %v", got, tt.want)
					}
				})
			}
		})
	}
}

func TestListSort(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	const ent = scim.SchemaEnterpriseUser
	users := []struct {
		userName, title, family, dept string
	}{
		{"carol", "Analyst", "Zimmer", "Marketing"},
		{"alice", "Manager", "Young", "Sales"},
		{"Bob", "", "Adams", "Engineering"},
		{"dave", "director", "Brown", ""},
	}
	for _, u := range users {
		extra := map[string]any{"name": map[string]any{"familyName": u.family, "givenName": u.userName}}
		if u.title != "" {
			extra["title"] = u.title
		}
		if u.dept != "" {
			extra[ent] = map[string]any{"department": u.dept}
		}
		createUser(t, c, userDoc(u.userName, extra))
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"sortBy=userName", []string{"alice", "Bob", "carol", "dave"}},
		{"sortBy=userName&sortOrder=ascending", []string{"alice", "Bob", "carol", "dave"}},
		{"sortBy=userName&sortOrder=descending", []string{"dave", "carol", "Bob", "alice"}},
		{"sortBy=UserName&sortOrder=Descending", []string{"dave", "carol", "Bob", "alice"}},
		{"sortBy=title", []string{"carol", "dave", "alice", "Bob"}},                      // no title sorts last
		{"sortBy=title&sortOrder=descending", []string{"alice", "dave", "carol", "Bob"}}, // …in both orders
		{"sortBy=name.familyName", []string{"Bob", "dave", "alice", "carol"}},
		{"sortBy=name.familyName&sortOrder=descending", []string{"carol", "alice", "dave", "Bob"}},
		{"sortBy=" + ent + ":department", []string{"Bob", "carol", "alice", "dave"}},
		{"sortBy=title&filter=" + q(`name.familyName pr`), []string{"carol", "dave", "alice", "Bob"}},
		{"sortBy=name.familyName&startIndex=2&count=2", []string{"dave", "alice"}},
		{"sortBy=name.familyName&sortOrder=descending&filter=" + q(`not (userName eq "carol")`), []string{"alice", "dave", "Bob"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			lr := c.do(t, http.MethodGet, "/Users?"+tt.query, nil, nil).list(t)
			if got := lr.names("userName"); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestListProjection(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	const ent = scim.SchemaEnterpriseUser
	uid := createUser(t, c, userDoc("proj@acme.test", map[string]any{
		"displayName": "Proj",
		"name":        map[string]any{"givenName": "Pro", "familyName": "Jection"},
		"emails":      []any{map[string]any{"type": "work", "value": "proj@acme.test", "primary": true}},
		ent:           map[string]any{"department": "Sales", "costCenter": "42"},
	}))
	gid := createGroup(t, c, "Projected", uid)

	tests := []struct {
		name, path string
		want       []string // exact top-level keys of each resource
		check      func(t *testing.T, doc map[string]any)
	}{
		{"attributes=userName", "/Users?attributes=userName", []string{"id", "schemas", "userName"}, nil},
		{"attributes=userName by id", "/Users/" + uid + "?attributes=userName", []string{"id", "schemas", "userName"}, nil},
		{"attributes=emails keeps userName (returned always)", "/Users?attributes=emails", []string{"emails", "id", "schemas", "userName"}, nil},
		{"attributes=name.familyName", "/Users?attributes=name.familyName", []string{"id", "name", "schemas", "userName"}, func(t *testing.T, doc map[string]any) {
			if got, want := doc["name"], map[string]any{"familyName": "Jection"}; !reflect.DeepEqual(got, want) {
				t.Errorf("name: got %v, want %v", got, want)
			}
		}},
		{"attributes=enterprise department", "/Users?attributes=" + ent + ":department", []string{"id", "schemas", "userName", ent}, func(t *testing.T, doc map[string]any) {
			if got, want := doc[ent], map[string]any{"department": "Sales"}; !reflect.DeepEqual(got, want) {
				t.Errorf("%s: got %v, want %v", ent, got, want)
			}
		}},
		{"excludedAttributes=emails", "/Users?excludedAttributes=emails", []string{"active", "displayName", "groups", "id", "meta", "name", "schemas", "userName", ent}, nil},
		{"excludedAttributes=emails by id", "/Users/" + uid + "?excludedAttributes=emails", []string{"active", "displayName", "groups", "id", "meta", "name", "schemas", "userName", ent}, nil},
		{"excludedAttributes=groups", "/Users/" + uid + "?excludedAttributes=groups,meta", []string{"active", "displayName", "emails", "id", "name", "schemas", "userName", ent}, nil},
		{"excludedAttributes=userName is ignored (returned always)", "/Users/" + uid + "?excludedAttributes=userName,emails,groups,meta,name,active,displayName," + ent, []string{"id", "schemas", "userName"}, nil},
		{"groups excludedAttributes=members", "/Groups?excludedAttributes=members", []string{"displayName", "id", "meta", "schemas"}, nil},
		{"group by id excludedAttributes=members", "/Groups/" + gid + "?excludedAttributes=members", []string{"displayName", "id", "meta", "schemas"}, nil},
		{"group by id", "/Groups/" + gid, []string{"displayName", "id", "members", "meta", "schemas"}, func(t *testing.T, doc map[string]any) {
			if got, want := memberIDs(doc), []string{uid}; !slices.Equal(got, want) {
				t.Errorf("members: got %v, want %v", got, want)
			}
		}},
		{"groups attributes=displayName", "/Groups?attributes=displayName", []string{"displayName", "id", "schemas"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do(t, http.MethodGet, tt.path, nil, nil)
			var docs []map[string]any
			if strings.Contains(tt.path, "/Users/") || strings.Contains(tt.path, "/Groups/") {
				wantStatus(t, r, http.StatusOK)
				docs = []map[string]any{r.obj(t)}
			} else {
				docs = r.list(t).Resources
			}
			if len(docs) != 1 {
				t.Fatalf("got %d resources, want 1", len(docs))
			}
			if got, want := keys(docs[0]), sorted(tt.want); !slices.Equal(got, want) {
				t.Errorf("keys: got %v, want %v", got, want)
			}
			if tt.check != nil {
				tt.check(t, docs[0])
			}
		})
	}
}

func TestSearchEndpoint(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	var ids []string
	for _, n := range []string{"sam", "sara", "sid", "tom"} {
		ids = append(ids, createUser(t, c, userDoc(n+"@acme.test", map[string]any{"title": "T " + n})))
	}
	createGroup(t, c, "Search one", ids[0], ids[1])
	createGroup(t, c, "Search two", ids[2])

	tests := []struct {
		name, path string
		req        any
		total      int
		start      int
		want       []string // names in order
		wantKeys   []string // exact keys of each resource; nil skips
	}{
		{"filter, paging, attributes", "/Users/.search", map[string]any{
			"schemas": []any{scim.MessageSearch}, "filter": `userName sw "s"`, "sortBy": "userName",
			"startIndex": 2, "count": 1, "attributes": []any{"userName"},
		}, 3, 2, []string{"sara@acme.test"}, []string{"id", "schemas", "userName"}},
		{"non-indexed filter", "/Users/.search", map[string]any{
			"schemas": []any{scim.MessageSearch}, "filter": `title co "s"`, "sortBy": "userName", "sortOrder": "descending",
		}, 3, 1, []string{"sid@acme.test", "sara@acme.test", "sam@acme.test"}, nil},
		{"excludedAttributes", "/Users/.search", map[string]any{
			"filter": `userName eq "tom@acme.test"`, "excludedAttributes": []any{"meta", "title", "groups", "active", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		}, 1, 1, []string{"tom@acme.test"}, []string{"id", "schemas", "userName"}},
		{"empty request lists everything", "/Users/.search", map[string]any{}, 4, 1, []string{"sam@acme.test", "sara@acme.test", "sid@acme.test", "tom@acme.test"}, nil},
		{"count 0", "/Users/.search", map[string]any{"count": 0}, 4, 1, []string{}, nil},
		{"groups by member", "/Groups/.search", map[string]any{
			"schemas": []any{scim.MessageSearch}, "filter": `members[value eq "` + ids[1] + `"]`, "excludedAttributes": []any{"members"},
		}, 1, 1, []string{"Search one"}, []string{"displayName", "id", "meta", "schemas"}},
		{"groups by displayName", "/Groups/.search", map[string]any{
			"filter": `displayName sw "search"`, "attributes": []any{"displayName"}, "sortBy": "displayName", "sortOrder": "descending",
		}, 2, 1, []string{"Search two", "Search one"}, []string{"displayName", "id", "schemas"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lr := c.do(t, http.MethodPost, tt.path, tt.req, nil).list(t)
			attr := "userName"
			if strings.HasPrefix(tt.path, "/Groups") {
				attr = "displayName"
			}
			if lr.TotalResults != tt.total || lr.StartIndex != tt.start {
				t.Errorf("totalResults, startIndex: got %d, %d, want %d, %d", lr.TotalResults, lr.StartIndex, tt.total, tt.start)
			}
			if got := lr.names(attr); !slices.Equal(got, tt.want) {
				t.Errorf("Resources: got %v, want %v", got, tt.want)
			}
			if tt.wantKeys != nil {
				for _, d := range lr.Resources {
					if got := keys(d); !slices.Equal(got, tt.wantKeys) {
						t.Errorf("keys: got %v, want %v", got, tt.wantKeys)
					}
				}
			}
		})
	}
	t.Run("invalid filter", func(t *testing.T) {
		wantSCIMError(t, c.do(t, http.MethodPost, "/Users/.search", map[string]any{"filter": `userName eq`}, nil), http.StatusBadRequest, scim.InvalidFilter)
	})
}

func TestFiltersThatCannotBeIndexed(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	const ent = scim.SchemaEnterpriseUser
	email := func(typ, v string) map[string]any { return map[string]any{"type": typ, "value": v} }
	createUser(t, c, userDoc("alice@contoso.com", map[string]any{
		"title": "Engineer", "name": map[string]any{"familyName": "Smith"},
		"emails": []any{email("work", "alice@contoso.com")}, ent: map[string]any{"department": "Sales"},
	}))
	bobDoc := userDoc("bob@fabrikam.com", map[string]any{
		"title": "Sales rep", "name": map[string]any{"familyName": "Smithers"}, "active": false,
		"emails": []any{email("work", "bob@fabrikam.com")}, ent: map[string]any{"department": "Engineering"},
	})
	bobResp := c.do(t, http.MethodPost, "/Users", bobDoc, nil)
	wantStatus(t, bobResp, http.StatusCreated)
	bobModified, _ := metaOf(bobResp.obj(t))["lastModified"].(string)
	time.Sleep(2 * time.Millisecond)
	createUser(t, c, userDoc("carol@contoso.com", map[string]any{
		"name":   map[string]any{"familyName": "Jones"},
		"emails": []any{email("work", "carol@contoso.com"), email("work", "Carol.J@contoso.com"), email("home", "carol@home.example")},
		ent:      map[string]any{"department": "Sales"},
	}))
	dave := userDoc("dave@example.org", map[string]any{
		"title": "Senior engineer", "name": map[string]any{"familyName": "Brown"},
		"emails": []any{email("home", "dave@contoso.com")},
	})
	delete(dave, "active")
	createUser(t, c, dave)

	tests := []struct {
		filter string
		want   []string
	}{
		{`title co "eng"`, []string{"alice@contoso.com", "dave@example.org"}},
		{`title co "ENG"`, []string{"alice@contoso.com", "dave@example.org"}},
		{`name.familyName sw "Sm"`, []string{"alice@contoso.com", "bob@fabrikam.com"}},
		{`name.familyName eq "smith"`, []string{"alice@contoso.com"}},
		{`emails.value ew "@contoso.com"`, []string{"alice@contoso.com", "carol@contoso.com", "dave@example.org"}},
		{`emails co "fabrikam"`, []string{"bob@fabrikam.com"}},
		{`not (active eq true)`, []string{"bob@fabrikam.com", "dave@example.org"}},
		{`active eq false`, []string{"bob@fabrikam.com"}},
		{`not (title co "eng")`, []string{"bob@fabrikam.com", "carol@contoso.com"}},
		{`userName eq "alice@contoso.com" or title eq "Sales rep"`, []string{"alice@contoso.com", "bob@fabrikam.com"}},
		{`title eq "sales rep" or userName eq "ALICE@contoso.com"`, []string{"alice@contoso.com", "bob@fabrikam.com"}},
		{`name.familyName sw "Sm" and active eq true`, []string{"alice@contoso.com"}},
		{`meta.lastModified gt "` + bobModified + `"`, []string{"carol@contoso.com", "dave@example.org"}},
		{`meta.lastModified ge "` + bobModified + `" and title pr`, []string{"bob@fabrikam.com", "dave@example.org"}},
		{ent + `:department eq "Sales"`, []string{"alice@contoso.com", "carol@contoso.com"}},
		{`department eq "sales"`, []string{"alice@contoso.com", "carol@contoso.com"}},
		{`emails[type eq "work" and value co "alice"]`, []string{"alice@contoso.com"}},
		{`emails[type eq "home"]`, []string{"carol@contoso.com", "dave@example.org"}},
		{`emails[type eq "work"].value eq "carol@contoso.com"`, []string{"carol@contoso.com"}},
		{`emails[type eq "work"].value eq "carol.j@contoso.com"`, []string{"carol@contoso.com"}},
		{`emails[type eq "work"].value eq "CAROL.J@CONTOSO.COM"`, []string{"carol@contoso.com"}},
		{`emails[type eq "work"].value eq "carol@home.example"`, []string{}},
		{`emails[type eq "work"].value eq "dave@contoso.com"`, []string{}},
		{`emails[type eq "work"].value eq "bob@fabrikam.com"`, []string{"bob@fabrikam.com"}},
		{`title pr`, []string{"alice@contoso.com", "bob@fabrikam.com", "dave@example.org"}},
		{`not (title pr)`, []string{"carol@contoso.com"}},
		{`title ne "Engineer"`, []string{"bob@fabrikam.com", "carol@contoso.com", "dave@example.org"}},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			get := c.do(t, http.MethodGet, "/Users?sortBy=userName&filter="+q(tt.filter), nil, nil).list(t)
			if got := get.names("userName"); !slices.Equal(got, tt.want) || get.TotalResults != len(tt.want) {
				t.Errorf("GET: got %v (totalResults %d), want %v", got, get.TotalResults, tt.want)
			}
			search := c.do(t, http.MethodPost, "/Users/.search", map[string]any{"filter": tt.filter, "sortBy": "userName"}, nil).list(t)
			if got := search.names("userName"); !slices.Equal(got, tt.want) || search.TotalResults != len(tt.want) {
				t.Errorf("POST .search: got %v (totalResults %d), want %v", got, search.TotalResults, tt.want)
			}
		})
	}
}

// 5. Disabled users, deletes and the groups of a user.

func TestDisabledUsersAndMemberships(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	uid := createUser(t, c, userDoc("leaver@acme.test", nil))
	keep := createUser(t, c, userDoc("stayer@acme.test", nil))
	g1 := createGroup(t, c, "Alpha team", uid, keep)
	g2 := createGroup(t, c, "Beta team", uid)

	t.Run("GET user carries its groups", func(t *testing.T) {
		r := c.do(t, http.MethodGet, "/Users/"+uid, nil, nil)
		wantStatus(t, r, http.StatusOK)
		doc := r.obj(t)
		if got, want := groupIDs(doc), sorted([]string{g1, g2}); !slices.Equal(got, want) {
			t.Fatalf("groups: got %v, want %v", got, want)
		}
		for _, gv := range doc["groups"].([]any) {
			g := gv.(map[string]any)
			wantName := map[string]string{g1: "Alpha team", g2: "Beta team"}[g["value"].(string)]
			if g["display"] != wantName {
				t.Errorf("groups display: got %v, want %s", g["display"], wantName)
			}
			if g["$ref"] != base+"/Groups/"+g["value"].(string) {
				t.Errorf("groups $ref: got %v, want %s", g["$ref"], base+"/Groups/"+g["value"].(string))
			}
		}
		lr := c.do(t, http.MethodGet, "/Users?filter="+q(`userName eq "leaver@acme.test"`), nil, nil).list(t)
		if len(lr.Resources) != 1 || !slices.Equal(groupIDs(lr.Resources[0]), sorted([]string{g1, g2})) {
			t.Errorf("groups in a list: got %v, want %v", lr.Resources, sorted([]string{g1, g2}))
		}
	})

	wantStatus(t, c.do(t, http.MethodPatch, "/Users/"+uid, patchBody(op("Replace", "active", "False")), nil), http.StatusOK)

	t.Run("disabled user is still visible", func(t *testing.T) {
		tests := []struct{ name, path string }{
			{"by id", "/Users/" + uid},
			{"by userName", "/Users?filter=" + q(`userName eq "leaver@acme.test"`)},
			{"by active eq false", "/Users?filter=" + q(`active eq false`)},
			{"in the full list", "/Users?filter=" + q(`userName sw "leaver"`)},
			{"by a non-indexed filter", "/Users?filter=" + q(`not (title pr) and active eq false`)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := c.do(t, http.MethodGet, tt.path, nil, nil)
				var doc map[string]any
				if strings.Contains(tt.path, "?") {
					lr := r.list(t)
					if len(lr.Resources) != 1 {
						t.Fatalf("got %v, want the disabled user", lr.names("userName"))
					}
					doc = lr.Resources[0]
				} else {
					wantStatus(t, r, http.StatusOK)
					doc = r.obj(t)
				}
				if doc["id"] != uid || doc["active"] != false {
					t.Errorf("got id %v active %v, want %s active false", doc["id"], doc["active"], uid)
				}
				if got, want := groupIDs(doc), sorted([]string{g1, g2}); !slices.Equal(got, want) {
					t.Errorf("groups: got %v, want %v", got, want)
				}
			})
		}
	})

	t.Run("disabled user keeps its memberships", func(t *testing.T) {
		for _, g := range []string{g1, g2} {
			doc := c.do(t, http.MethodGet, "/Groups/"+g, nil, nil).obj(t)
			if !slices.Contains(memberIDs(doc), uid) {
				t.Errorf("group %s members: got %v, want %s among them", g, memberIDs(doc), uid)
			}
			lr := c.do(t, http.MethodGet, "/Groups?excludedAttributes=members&filter="+q(`id eq "`+g+`" and members[value eq "`+uid+`"]`), nil, nil).list(t)
			if lr.TotalResults != 1 {
				t.Errorf("membership query for %s: got totalResults %d, want 1", g, lr.TotalResults)
			}
		}
	})

	wantStatus(t, c.do(t, http.MethodDelete, "/Users/"+uid, nil, nil), http.StatusNoContent)

	t.Run("deleted user leaves its groups", func(t *testing.T) {
		wantSCIMError(t, c.do(t, http.MethodGet, "/Users/"+uid, nil, nil), http.StatusNotFound, "")
		tests := []struct {
			group string
			want  []string
		}{{g1, []string{keep}}, {g2, []string{}}}
		for _, tt := range tests {
			doc := c.do(t, http.MethodGet, "/Groups/"+tt.group, nil, nil).obj(t)
			if got := memberIDs(doc); !slices.Equal(got, tt.want) {
				t.Errorf("group %s members: got %v, want %v", tt.group, got, tt.want)
			}
		}
		for _, f := range []string{`members[value eq "` + uid + `"]`, `members eq "` + uid + `"`, `members.value eq "` + uid + `"`} {
			if lr := c.do(t, http.MethodGet, "/Groups?filter="+q(f), nil, nil).list(t); lr.TotalResults != 0 {
				t.Errorf("filter %s: got %v, want no group", f, lr.names("displayName"))
			}
		}
		doc := c.do(t, http.MethodGet, "/Users/"+keep, nil, nil).obj(t)
		if got, want := groupIDs(doc), []string{g1}; !slices.Equal(got, want) {
			t.Errorf("remaining member's groups: got %v, want %v", got, want)
		}
	})

	t.Run("deleted group leaves its members' groups", func(t *testing.T) {
		wantStatus(t, c.do(t, http.MethodDelete, "/Groups/"+g1, nil, nil), http.StatusNoContent)
		doc := c.do(t, http.MethodGet, "/Users/"+keep, nil, nil).obj(t)
		if got := groupIDs(doc); len(got) != 0 {
			t.Errorf("groups of a member of a deleted group: got %v, want none", got)
		}
		wantSCIMError(t, c.do(t, http.MethodGet, "/Groups/"+g1, nil, nil), http.StatusNotFound, "")
	})
}

// 6. Group members.

func TestGroupMembers(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	otherBase, otherTok := a.tenant(t, "other", store.TenantSettings{})
	c := newClient(base, tok)
	other := newClient(otherBase, otherTok)
	u1 := createUser(t, c, userDoc("m1@acme.test", nil))
	u2 := createUser(t, c, userDoc("m2@acme.test", nil))
	u3 := createUser(t, c, userDoc("m3@acme.test", nil))
	foreign := createUser(t, other, userDoc("m1@acme.test", nil)) // same userName, other tenant
	foreignGroup := createGroup(t, other, "Foreign")
	const unknown = "6a7f3f2e-0000-4000-8000-000000000000"

	g := createGroup(t, c, "Members", u1, u2)
	members := func(t *testing.T) []string {
		t.Helper()
		r := c.do(t, http.MethodGet, "/Groups/"+g, nil, nil)
		wantStatus(t, r, http.StatusOK)
		return memberIDs(r.obj(t))
	}

	t.Run("POST with members", func(t *testing.T) {
		if got, want := members(t), sorted([]string{u1, u2}); !slices.Equal(got, want) {
			t.Errorf("members: got %v, want %v", got, want)
		}
		r := c.do(t, http.MethodGet, "/Groups/"+g, nil, nil)
		for _, m := range r.obj(t)["members"].([]any) {
			mm := m.(map[string]any)
			if mm["type"] != "User" || mm["$ref"] != base+"/Users/"+mm["value"].(string) {
				t.Errorf("member %v: want type User and $ref %s/Users/<id>", mm, base)
			}
		}
	})

	t.Run("nested group member", func(t *testing.T) {
		parent := createGroup(t, c, "Parent", g, u3)
		doc := c.do(t, http.MethodGet, "/Groups/"+parent, nil, nil).obj(t)
		types := map[string]any{}
		for _, m := range doc["members"].([]any) {
			mm := m.(map[string]any)
			types[mm["value"].(string)] = mm["type"]
		}
		if want := map[string]any{g: "Group", u3: "User"}; !reflect.DeepEqual(types, want) {
			t.Errorf("member types: got %v, want %v", types, want)
		}
	})

	rejected := []struct {
		name string
		body map[string]any
	}{
		{"unknown id with a valid one", addMembers(u3, unknown)},
		{"valid one after an unknown id", addMembers(unknown, u3)},
		{"user of another tenant", addMembers(u3, foreign)},
		{"group of another tenant", addMembers(u3, foreignGroup)},
		{"two operations, second invalid", patchBody(
			op("Add", "members", []any{map[string]any{"value": u3}}),
			op("Add", "members", []any{map[string]any{"value": unknown}}),
		)},
		{"remove then invalid add", patchBody(
			op("Remove", "members", []any{map[string]any{"value": u1}}),
			op("Add", "members", []any{map[string]any{"value": foreign}}),
		)},
		{"replace members with an invalid one", patchBody(op("Replace", "members", []any{map[string]any{"value": u3}, map[string]any{"value": unknown}}))},
		{"flag-form add with an unknown id", patchBody(op("add", "members", []any{map[string]any{"value": u3}, map[string]any{"value": unknown}}))},
	}
	for _, tt := range rejected {
		t.Run("PATCH rejects "+tt.name, func(t *testing.T) {
			before := c.do(t, http.MethodGet, "/Groups/"+g, nil, nil)
			r := c.do(t, http.MethodPatch, "/Groups/"+g, tt.body, nil)
			wantSCIMError(t, r, http.StatusBadRequest, scim.InvalidValue)
			after := c.do(t, http.MethodGet, "/Groups/"+g, nil, nil)
			if got, want := memberIDs(after.obj(t)), sorted([]string{u1, u2}); !slices.Equal(got, want) {
				t.Errorf("members after a rejected PATCH: got %v, want %v (atomic: nothing applied)", got, want)
			}
			if got, want := after.Header.Get("ETag"), before.Header.Get("ETag"); got != want {
				t.Errorf("ETag after a rejected PATCH: got %s, want %s", got, want)
			}
		})
	}

	t.Run("POST rejects a member of another tenant", func(t *testing.T) {
		for _, id := range []string{foreign, unknown} {
			r := c.do(t, http.MethodPost, "/Groups", groupDoc("Bad "+id, u1, id), nil)
			wantSCIMError(t, r, http.StatusBadRequest, scim.InvalidValue)
			lr := c.do(t, http.MethodGet, "/Groups?filter="+q(`displayName eq "Bad `+id+`"`), nil, nil).list(t)
			if lr.TotalResults != 0 {
				t.Errorf("the rejected group exists: %v", lr.names("displayName"))
			}
		}
	})

	t.Run("PUT rejects a member of another tenant", func(t *testing.T) {
		r := c.do(t, http.MethodPut, "/Groups/"+g, groupDoc("Members", u3, foreign), nil)
		wantSCIMError(t, r, http.StatusBadRequest, scim.InvalidValue)
		if got, want := members(t), sorted([]string{u1, u2}); !slices.Equal(got, want) {
			t.Errorf("members: got %v, want %v", got, want)
		}
	})

	t.Run("PUT replaces the member list", func(t *testing.T) {
		r := c.do(t, http.MethodPut, "/Groups/"+g, groupDoc("Members", u2, u3), nil)
		wantStatus(t, r, http.StatusOK)
		if got, want := memberIDs(r.obj(t)), sorted([]string{u2, u3}); !slices.Equal(got, want) {
			t.Errorf("PUT response members: got %v, want %v", got, want)
		}
		if got, want := members(t), sorted([]string{u2, u3}); !slices.Equal(got, want) {
			t.Errorf("members: got %v, want %v", got, want)
		}
		r = c.do(t, http.MethodPut, "/Groups/"+g, groupDoc("Members", []string{}...), nil)
		wantStatus(t, r, http.StatusOK)
		if got := members(t); len(got) != 0 {
			t.Errorf("members after PUT with an empty list: got %v, want none", got)
		}
	})

	t.Run("other tenant's group is unchanged", func(t *testing.T) {
		doc := other.do(t, http.MethodGet, "/Groups/"+foreignGroup, nil, nil).obj(t)
		if got := memberIDs(doc); len(got) != 0 {
			t.Errorf("foreign group members: got %v, want none", got)
		}
	})
}

// 7. PATCH response shapes.

func TestPatchResponses(t *testing.T) {
	a := newTestAgent(t)
	tests := []struct {
		name      string
		settings  store.TenantSettings
		userCode  int
		groupCode int
	}{
		{"default", store.TenantSettings{}, http.StatusOK, http.StatusNoContent},
		{"PatchUserNoContent", store.TenantSettings{PatchUserNoContent: true}, http.StatusNoContent, http.StatusNoContent},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, tok := a.tenant(t, "t"+strconv.Itoa(i), tt.settings)
			c := newClient(base, tok)
			uid := createUser(t, c, userDoc("patched@acme.test", map[string]any{"name": map[string]any{"givenName": "Pat"}}))
			gid := createGroup(t, c, "Patched", uid)

			r := c.do(t, http.MethodPatch, "/Users/"+uid, patchBody(op("Replace", "title", "Boss"), op("Add", "name.familyName", "Ched")), nil)
			wantStatus(t, r, tt.userCode)
			get := c.do(t, http.MethodGet, "/Users/"+uid, nil, nil)
			wantStatus(t, get, http.StatusOK)
			if got, want := r.Header.Get("ETag"), get.Header.Get("ETag"); got != want {
				t.Errorf("user PATCH ETag: got %q, want %q", got, want)
			}
			if tt.userCode == http.StatusNoContent {
				if len(r.Body) != 0 {
					t.Errorf("204 body: got %q, want none", r.Body)
				}
			} else {
				doc := r.obj(t)
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, scim.MediaType) {
					t.Errorf("Content-Type: got %q", ct)
				}
				if doc["id"] != uid || doc["userName"] != "patched@acme.test" || doc["title"] != "Boss" {
					t.Errorf("PATCH 200 body: got %v, want the whole patched user", doc)
				}
				if got, want := doc["name"], map[string]any{"givenName": "Pat", "familyName": "Ched"}; !reflect.DeepEqual(got, want) {
					t.Errorf("name: got %v, want %v", got, want)
				}
				if got := metaOf(doc)["version"]; got != r.Header.Get("ETag") {
					t.Errorf("meta.version %v != ETag %s", got, r.Header.Get("ETag"))
				}
			}

			r = c.do(t, http.MethodPatch, "/Groups/"+gid, patchBody(op("Replace", "displayName", "Patched 2")), nil)
			wantStatus(t, r, tt.groupCode)
			if len(r.Body) != 0 {
				t.Errorf("group PATCH body: got %q, want none", r.Body)
			}
			r = c.do(t, http.MethodPatch, "/Groups/"+gid, addMembers(createUser(t, c, userDoc("other@acme.test", nil))), nil)
			wantStatus(t, r, tt.groupCode)
		})
	}

	// RFC 7644 §3.5.2: a 200 answer to PATCH carries "the entire resource";
	// a user's groups are part of it (returned by default, as a GET shows).
	t.Run("PATCH 200 body is the resource a GET returns", func(t *testing.T) {
		base, tok := a.tenant(t, "full", store.TenantSettings{})
		c := newClient(base, tok)
		uid := createUser(t, c, userDoc("member@acme.test", nil))
		createGroup(t, c, "Full", uid)
		for _, m := range []string{http.MethodPatch, http.MethodPut} {
			var body any = patchBody(op("Replace", "title", "T-"+m))
			if m == http.MethodPut {
				body = userDoc("member@acme.test", map[string]any{"title": "T-" + m})
			}
			r := c.do(t, m, "/Users/"+uid, body, nil)
			wantStatus(t, r, http.StatusOK)
			got := r.obj(t)
			want := c.do(t, http.MethodGet, "/Users/"+uid, nil, nil).obj(t)
			// Timestamps may be rendered in another zone; compare the rest.
			delete(metaOf(got), "lastModified")
			delete(metaOf(want), "lastModified")
			delete(metaOf(got), "created")
			delete(metaOf(want), "created")
			if !reflect.DeepEqual(got, want) {
				gj, _ := json.Marshal(got)
				wj, _ := json.Marshal(want)
				t.Errorf("%s response:\n got %s\nwant %s", m, gj, wj)
			}
		}
	})
}

// 9. Discovery.

func TestDiscovery(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)

	t.Run("ServiceProviderConfig", func(t *testing.T) {
		r := c.do(t, http.MethodGet, "/ServiceProviderConfig", nil, hdr{"Accept": "application/json"})
		wantStatus(t, r, http.StatusOK)
		doc := r.obj(t)
		sub := func(k string) map[string]any { m, _ := doc[k].(map[string]any); return m }
		tests := []struct {
			name string
			got  any
			want any
		}{
			{"patch.supported", sub("patch")["supported"], true},
			{"bulk.supported", sub("bulk")["supported"], false},
			{"filter.supported", sub("filter")["supported"], true},
			{"etag.supported", sub("etag")["supported"], true},
			{"changePassword.supported", sub("changePassword")["supported"], false},
			{"schemas", doc["schemas"], []any{scim.SchemaServiceProviderConfig}},
		}
		for _, tt := range tests {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
			}
		}
		if mr, ok := sub("filter")["maxResults"].(float64); !ok || mr < 1 {
			t.Errorf("filter.maxResults: got %v, want a positive number", sub("filter")["maxResults"])
		}
		if as, _ := doc["authenticationSchemes"].([]any); len(as) == 0 {
			t.Errorf("authenticationSchemes: got none")
		}
		if path, ok := findNull(doc, ""); ok {
			t.Errorf("null value at %s", path)
		}
	})

	t.Run("Schemas", func(t *testing.T) {
		lr := c.do(t, http.MethodGet, "/Schemas", nil, nil).list(t)
		var ids []string
		for _, s := range lr.Resources {
			id, _ := s["id"].(string)
			ids = append(ids, id)
			attrs, _ := s["attributes"].([]any)
			if len(attrs) == 0 {
				t.Errorf("schema %s: no attributes", id)
			}
			checkAttributes(t, id, attrs)
			if path, ok := findNull(s, id); ok {
				t.Errorf("null value at %s (Microsoft: no nulls in /Schemas)", path)
			}
			one := c.do(t, http.MethodGet, "/Schemas/"+id, nil, nil)
			wantStatus(t, one, http.StatusOK)
			if got := one.obj(t)["id"]; got != id {
				t.Errorf("GET /Schemas/%s: id got %v", id, got)
			}
		}
		for _, want := range []string{scim.SchemaUser, scim.SchemaEnterpriseUser, scim.SchemaGroup} {
			if !slices.Contains(ids, want) {
				t.Errorf("schemas: got %v, want %s among them", ids, want)
			}
		}
		if lr.TotalResults != len(lr.Resources) {
			t.Errorf("totalResults %d, Resources %d", lr.TotalResults, len(lr.Resources))
		}
	})

	t.Run("ResourceTypes", func(t *testing.T) {
		lr := c.do(t, http.MethodGet, "/ResourceTypes", nil, nil).list(t)
		byID := map[string]map[string]any{}
		for _, rt := range lr.Resources {
			id, _ := rt["id"].(string)
			byID[id] = rt
			if path, ok := findNull(rt, id); ok {
				t.Errorf("null value at %s", path)
			}
		}
		tests := []struct {
			id, endpoint, schema string
			ext                  []any
		}{
			{"User", "/Users", scim.SchemaUser, []any{map[string]any{"schema": scim.SchemaEnterpriseUser, "required": false}}},
			{"Group", "/Groups", scim.SchemaGroup, nil},
		}
		for _, tt := range tests {
			rt := byID[tt.id]
			if rt == nil {
				t.Errorf("resource type %s missing; got %v", tt.id, keys(toAny(byID)))
				continue
			}
			if rt["endpoint"] != tt.endpoint || rt["schema"] != tt.schema {
				t.Errorf("%s: endpoint %v schema %v, want %s %s", tt.id, rt["endpoint"], rt["schema"], tt.endpoint, tt.schema)
			}
			if got, _ := rt["schemaExtensions"].([]any); !reflect.DeepEqual(got, tt.ext) {
				t.Errorf("%s schemaExtensions: got %v, want %v", tt.id, got, tt.ext)
			}
		}
		one := c.do(t, http.MethodGet, "/ResourceTypes/User", nil, nil)
		wantStatus(t, one, http.StatusOK)
		if got := one.obj(t)["schemaExtensions"]; got == nil {
			t.Errorf("GET /ResourceTypes/User: no schemaExtensions")
		}
	})
}

func toAny(m map[string]map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// findNull returns the path of the first JSON null in v.
func findNull(v any, path string) (string, bool) {
	switch x := v.(type) {
	case nil:
		return path, true
	case map[string]any:
		for _, k := range keys(x) {
			if p, ok := findNull(x[k], path+"."+k); ok {
				return p, true
			}
		}
	case []any:
		for i, e := range x {
			if p, ok := findNull(e, path+"["+strconv.Itoa(i)+"]"); ok {
				return p, true
			}
		}
	}
	return "", false
}

// checkAttributes checks the attribute definitions of a schema (RFC 7643 §7).
func checkAttributes(t *testing.T, where string, attrs []any) {
	t.Helper()
	types := []string{"string", "boolean", "decimal", "integer", "dateTime", "reference", "complex", "binary"}
	for _, av := range attrs {
		a, _ := av.(map[string]any)
		name, _ := a["name"].(string)
		at := where + ":" + name
		if name == "" {
			t.Errorf("%s: attribute without a name: %v", where, a)
		}
		if typ, _ := a["type"].(string); !slices.Contains(types, typ) {
			t.Errorf("%s: type %v", at, a["type"])
		}
		for _, k := range []string{"multiValued", "required", "caseExact"} {
			if _, ok := a[k].(bool); !ok {
				t.Errorf("%s: %s got %v, want a boolean", at, k, a[k])
			}
		}
		for _, k := range []string{"mutability", "returned", "uniqueness"} {
			if s, _ := a[k].(string); s == "" {
				t.Errorf("%s: %s got %#v, want a non-empty string", at, k, a[k])
			}
		}
		if subs, ok := a["subAttributes"].([]any); ok {
			checkAttributes(t, at, subs)
		}
	}
}

// 10. Provisioning events.

func TestProvisioningEvents(t *testing.T) {
	a := newTestAgent(t)
	ctx := context.Background()
	baseA, _ := a.tenant(t, "ev-a", store.TenantSettings{})
	baseB, tokB := a.tenant(t, "ev-b", store.TenantSettings{})
	issued, err := a.dir.IssueToken(ctx, "ev-a", "entra-prod", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(baseA, issued.Token.Reveal())
	cb := newClient(baseB, tokB)

	uid := createUser(t, c, userDoc("evented@acme.test", nil))
	wantSCIMError(t, c.do(t, http.MethodPost, "/Users", userDoc("Evented@acme.test", nil), nil), http.StatusConflict, scim.Uniqueness)
	// Tenant B's real token presented to tenant A: refused, and must not be stored.
	wantSCIMError(t, newClient(baseA, tokB).do(t, http.MethodGet, "/Users?filter="+q(`userName eq "x"`), nil, nil), http.StatusUnauthorized, "")
	wantSCIMError(t, newClient(baseA, "").do(t, http.MethodGet, "/Users", nil, hdr{"Authorization": "Basic " + tokB}), http.StatusUnauthorized, "")
	wantStatus(t, c.do(t, http.MethodPatch, "/Users/"+uid, patchBody(op("Replace", "active", false)), nil), http.StatusOK)
	bid := createUser(t, cb, userDoc("b-only@acme.test", nil))

	evs, err := a.dir.Events(ctx, store.EventQuery{TenantID: "ev-a"})
	if err != nil {
		t.Fatal(err)
	}
	type ev struct {
		Method, ResourceType, ResourceID, Name, TokenName, ScimType string
		Status                                                      int
	}
	var got []ev
	for _, e := range evs {
		// Failed authentications are counted per address and minute: one
		// event may stand for several requests.
		for range e.Count {
			got = append(got, ev{e.Method, e.ResourceType, e.ResourceID, e.Name, e.TokenName, e.ScimType, e.Status})
		}
		if e.TenantID != "ev-a" {
			t.Errorf("event of tenant %s listed under ev-a: %+v", e.TenantID, e)
		}
		if !strings.HasPrefix(e.Path, "/scim/ev-a/v2/Users") {
			t.Errorf("event path: got %q", e.Path)
		}
	}
	want := []ev{
		{"POST", "User", uid, "evented@acme.test", "entra-prod", "", 201},
		{"POST", "User", "", "Evented@acme.test", "entra-prod", scim.Uniqueness, 409},
		{"GET", "", "", "", "", "", 401},
		{"GET", "", "", "", "", "", 401},
		{"PATCH", "User", uid, "evented@acme.test", "entra-prod", "", 200},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events of ev-a:\n got %+v\nwant %+v", got, want)
	}

	t.Run("Failed only", func(t *testing.T) {
		evs, err := a.dir.Events(ctx, store.EventQuery{TenantID: "ev-a", Failed: true})
		if err != nil {
			t.Fatal(err)
		}
		var statuses []int
		for _, e := range evs {
			for range e.Count {
				statuses = append(statuses, e.Status)
			}
		}
		if want := []int{409, 401, 401}; !slices.Equal(statuses, want) {
			t.Errorf("failed events: got statuses %v, want %v", statuses, want)
		}
	})

	t.Run("by name", func(t *testing.T) {
		evs, err := a.dir.Events(ctx, store.EventQuery{TenantID: "ev-a", Name: "EVENTED"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 3 {
			t.Errorf("events named evented: got %d, want 3 (create, 409, patch)", len(evs))
		}
	})

	t.Run("tenants are separate", func(t *testing.T) {
		evs, err := a.dir.Events(ctx, store.EventQuery{TenantID: "ev-b"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].ResourceID != bid || evs[0].TenantID != "ev-b" {
			t.Errorf("events of ev-b: got %d %+v, want only the create of %s", len(evs), evs, bid)
		}
		for _, e := range evs {
			if e.ResourceID == uid || strings.Contains(e.Name, "evented") {
				t.Errorf("event of ev-a listed under ev-b: %+v", e)
			}
		}
	})

	t.Run("a refused token is stored nowhere", func(t *testing.T) {
		all, err := a.dir.Events(ctx, store.EventQuery{})
		if err != nil {
			t.Fatal(err)
		}
		secret := tokB[len("roster_")+8:]
		for _, e := range all {
			for field, v := range map[string]string{"Detail": e.Detail, "Path": e.Path, "Name": e.Name, "TokenName": e.TokenName, "ScimType": e.ScimType, "ResourceID": e.ResourceID} {
				if strings.Contains(v, tokB) || strings.Contains(v, secret) {
					t.Errorf("event %d %s contains the presented token: %q", e.Seq, field, v)
				}
			}
		}
		// Nor anywhere in the database files.
		for _, f := range []string{a.db.Path(), a.db.Path() + "-wal"} {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			if strings.Contains(string(data), secret) {
				t.Errorf("%s contains the secret of a presented token", f)
			}
		}
	})
}
