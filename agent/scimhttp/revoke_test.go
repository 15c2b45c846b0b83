package scimhttp_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/store"
)

// TestRevokedByAnotherProcess: a running agent refuses a token soon after
// another process (here a second store and Service on the same file, as
// `roster token revoke` opens) revoked it. The bound itself (a second) is
// checked with a fake clock in package directory; this only waits for it.
func TestRevokedByAnotherProcess(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	c.do(t, http.MethodGet, "/Users", nil, nil).list(t) // cached from here on

	ctx := context.Background()
	db, err := store.Open(ctx, a.db.Path(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cli := directory.New(db, nil, nil)
	toks, err := cli.Tokens(ctx, "acme")
	if err != nil || len(toks) != 1 {
		t.Fatalf("tokens: %v %v", toks, err)
	}
	if _, err := cli.RevokeToken(ctx, toks[0].ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := c.do(t, http.MethodGet, "/Users", nil, nil)
		if r.Status == http.StatusUnauthorized {
			wantSCIMError(t, r, http.StatusUnauthorized, "")
			break
		}
		if r.Status != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("after the revocation: %s", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
