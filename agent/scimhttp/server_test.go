package scimhttp_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/store"
)

// TestMain stops the PostgreSQL cluster of the backend matrix (if a test
// started one) when the tests end.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backend is a store backend a test runs on: location returns where a
// fresh, empty store lives (a SQLite file in a temporary directory, or a new
// PostgreSQL database in internal/pgtest's throwaway cluster).
type backend struct {
	name     string
	location func(t testing.TB) string
}

var backends = []backend{
	{"sqlite", func(t testing.TB) string { return filepath.Join(t.TempDir(), "roster.db") }},
	// pgtest.New skips the test, saying why, when PostgreSQL is not installed.
	{"postgres", pgtest.New},
}

// onBackends runs fn as a subtest per backend: tests that must behave the
// same on SQLite and PostgreSQL (the Entra replay, the concurrency tests).
func onBackends(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// testAgent is a real agent over a real store, served by httptest.
type testAgent struct {
	srv *httptest.Server
	h   *scimhttp.Server
	dir *directory.Service
	db  *store.DB
}

// newTestAgent starts an agent on a SQLite file; opt (at most one)
// configures its handler, by default without rate limits or metrics.
func newTestAgent(t testing.TB, opt ...scimhttp.Options) *testAgent {
	t.Helper()
	return newTestAgentOn(t, backends[0], opt...)
}

// newTestAgentOn starts an agent on a fresh store of backend b.
func newTestAgentOn(t testing.TB, b backend, opt ...scimhttp.Options) *testAgent {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, b.location(t), store.Options{})
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

// startTestAgent starts a fresh agent on backend b with the default tenant
// (used by the Entra replay fixtures).
func startTestAgent(t *testing.T, b backend) (tenantURL, token string) {
	a := newTestAgentOn(t, b)
	return a.tenant(t, directory.DefaultTenant, store.TenantSettings{})
}
