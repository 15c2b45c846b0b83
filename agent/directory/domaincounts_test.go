package directory

import (
	"context"
	"testing"

	"github.com/rosterhq/roster/store"
)

// TestDomainCounts: pending domains are counted per tenant; a tenant
// without domains is absent.
func TestDomainCounts(t *testing.T) {
	ctx := context.Background()
	s := withTenants(t, "a", "b")
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
