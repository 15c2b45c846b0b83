package directory

import (
	"context"
	"testing"
	"time"

	"github.com/rosterhq/roster/store"
)

// TestDomainCounts: pending domains are counted per tenant; a tenant
// without domains is absent.
func TestDomainCounts(t *testing.T) {
	ctx := context.Background()
	s := openService(t, &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)})
	for _, id := range []string{"a", "b"} {
		if _, err := s.AddTenant(ctx, id, "", store.TenantSettings{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"one.example", "two.example"} {
		if _, err := s.AddDomain(ctx, "a", d); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.DomainCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["a"][string(store.DomainPending)] != 2 || len(got["a"]) != 1 || got["b"] != nil {
		t.Errorf("DomainCounts = %v, want a: 2 pending", got)
	}
}
