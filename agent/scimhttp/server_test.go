package scimhttp_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

// testAgent is a real agent over a real SQLite file, served by httptest.
type testAgent struct {
	srv *httptest.Server
	h   *scimhttp.Server
	dir *directory.Service
	db  *store.DB
}

// newTestAgent starts an agent; opt (at most one) configures its handler,
// by default without rate limits or metrics.
func newTestAgent(t testing.TB, opt ...scimhttp.Options) *testAgent {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.New(db, nil, nil)
	var o scimhttp.Options
	if len(opt) > 0 {
		o = opt[0]
	}
	h := scimhttp.New(dir, o)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		db.Close()
	})
	return &testAgent{srv: srv, h: h, dir: dir, db: db}
}

// tenant creates a tenant and returns its Tenant URL and a read-write token.
func (a *testAgent) tenant(t testing.TB, id string, settings store.TenantSettings) (string, string) {
	t.Helper()
	ctx := context.Background()
	if _, err := a.dir.AddTenant(ctx, id, "", settings); err != nil {
		t.Fatal(err)
	}
	return scimhttp.TenantURL(a.srv.URL, id), a.token(t, id, false)
}

func (a *testAgent) token(t testing.TB, tenant string, readOnly bool) string {
	t.Helper()
	issued, err := a.dir.IssueToken(context.Background(), tenant, "test", readOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	return issued.Token.Reveal()
}

// startTestAgent starts a fresh agent with the default tenant (used by the
// Entra replay fixtures).
func startTestAgent(t *testing.T) (tenantURL, token string) {
	a := newTestAgent(t)
	return a.tenant(t, directory.DefaultTenant, store.TenantSettings{})
}
