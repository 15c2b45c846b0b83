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
	dir *directory.Service
	db  *store.DB
}

func newTestAgent(t testing.TB) *testAgent {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.New(db, nil, nil)
	srv := httptest.NewServer(scimhttp.New(dir, scimhttp.Options{}))
	t.Cleanup(func() {
		srv.Close()
		db.Close()
	})
	return &testAgent{srv: srv, dir: dir, db: db}
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
