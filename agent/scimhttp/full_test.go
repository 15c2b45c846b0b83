package scimhttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

// TestFullStore: when the database cannot grow (SQLite's max_page_count,
// which answers SQLITE_FULL exactly as a full disk does), writes answer 503
// with Retry-After and /readyz is not ready until a write succeeds again.
func TestFullStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roster.db")
	tok := seedAcme(t, path)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	db := openStore(t, path, store.Options{MaxSize: st.Size() + 256<<10})
	srv := httptest.NewServer(scimhttp.New(directory.New(db, nil, nil), scimhttp.Options{}))
	defer srv.Close()
	c := newClient(scimhttp.TenantURL(srv.URL, "acme"), tok)
	ready := func() *reply { return newClient(srv.URL, "").do(t, http.MethodGet, "/readyz", nil, nil) }
	if r := ready(); r.Status != http.StatusOK {
		t.Fatalf("/readyz before: %s", r)
	}

	// Fill the store. With max_page_count a small write may still fit in a
	// page that has room (on a full disk none would), so go on until the
	// events of the refused creates no longer fit either and /readyz, which
	// then tries a write of one page, says not ready.
	var full, notReady *reply
	for i := 0; notReady == nil; i++ {
		if i > 20000 {
			t.Fatal("the store never became full")
		}
		r := c.do(t, http.MethodPost, "/Users", userDoc(fmt.Sprintf("user%05d@acme.test", i), map[string]any{"displayName": strings.Repeat("n", 200)}), nil)
		switch r.Status {
		case http.StatusCreated:
			continue
		case http.StatusServiceUnavailable:
			full = r
		default:
			t.Fatalf("create %d: %s", i, r)
		}
		if r := ready(); r.Status != http.StatusOK {
			notReady = r
		}
	}
	wantSCIMError(t, full, http.StatusServiceUnavailable, "")
	if full.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After: %s", full)
	}
	if d := errDetail(t, full); !strings.Contains(d, "disk holding the database is full") {
		t.Errorf("detail %q does not say the disk is full", d)
	}
	for range 3 { // and stays so
		r := ready()
		wantSCIMError(t, r, http.StatusServiceUnavailable, "")
		if r.Header.Get("Retry-After") == "" || !strings.Contains(errDetail(t, r), "full") {
			t.Errorf("/readyz while full: %s (Retry-After %q), want 503 saying the disk is full", r, r.Header.Get("Retry-After"))
		}
	}
	// Reads are still served.
	c.do(t, http.MethodGet, "/Users?count=1", nil, nil).list(t)

	// Another process frees space (here: prunes every event).
	other, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Write(ctx, func(tx *store.Tx) error { _, err := tx.PruneEvents(time.Now().Add(time.Hour)); return err }); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if r := ready(); r.Status != http.StatusOK {
		t.Errorf("/readyz after space was freed: %s, want 200", r)
	}
	wantStatus(t, c.do(t, http.MethodPost, "/Users", userDoc("after@acme.test", nil), nil), http.StatusCreated)
}

// seedAcme creates the database at path with tenant "acme" and a read-write
// token named "entra", closes it, and returns the token.
func seedAcme(t *testing.T, path string) string {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := directory.New(db, nil, nil)
	if _, err := dir.AddTenant(ctx, "acme", "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	issued, err := dir.IssueToken(ctx, "acme", "entra", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return issued.Token.Reveal()
}

// openStore opens the database at path until the test ends.
func openStore(t *testing.T, path string, opt store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
