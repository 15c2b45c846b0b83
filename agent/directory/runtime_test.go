package directory

import (
	"context"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/store"
)

// TestRuntimeOperations covers what the running agent asks of the store
// besides SCIM: its public URL, liveness and readiness, and event pruning.
func TestRuntimeOperations(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, pgtest.Location(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := New(db, nil, clock.Now)

	if got, err := s.PublicURL(ctx); got != "" || err != nil {
		t.Errorf("PublicURL before any start = %q, %v; want \"\", nil", got, err)
	}
	for _, url := range []string{"http://127.0.0.1:8080", "https://scim.contoso.test"} {
		if err := s.SetPublicURL(ctx, url); err != nil {
			t.Fatal(err)
		}
		if got, err := s.PublicURL(ctx); got != url || err != nil {
			t.Errorf("PublicURL = %q, %v; want %q", got, err, url)
		}
	}

	if _, err := s.AddTenant(ctx, "acme", "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	call := func() Call { return Call{TenantID: "acme", Method: "GET", Path: "/Users", Start: clock.Now()} }
	s.Record(ctx, call(), 200, nil)
	clock.Add(10 * 24 * time.Hour)
	s.Record(ctx, call(), 200, nil)
	n, err := s.PruneEvents(ctx, clock.Now().Add(-5*24*time.Hour))
	if err != nil || n != 1 {
		t.Errorf("PruneEvents = %d, %v; want 1 (the older event)", n, err)
	}
	evs, err := s.Events(ctx, store.EventQuery{TenantID: "acme"})
	if err != nil || len(evs) != 1 || !evs[0].At.Equal(clock.Now()) {
		t.Errorf("events after pruning = %v, %v; want the newer one", evs, err)
	}

	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping = %v", err)
	}
	if err := s.Ready(ctx); err != nil {
		t.Errorf("Ready = %v", err)
	}
	db.Close()
	if s.Ping(ctx) == nil || s.Ready(ctx) == nil {
		t.Error("Ping and Ready answer nil on a closed store")
	}
}
