package directory

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/rosterhq/roster/store"
)

// TestRevocationFromAnotherProcess: a token revoked through another
// Service on the same database file (another process, such as `roster
// token revoke`) is refused by a running Service within a second. The
// clock is fake: this checks the cache's bound, not the machine's speed.
func TestRevocationFromAnotherProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roster.db")
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	open := func() *Service {
		db, err := store.Open(ctx, path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return New(db, nil, clock.Now)
	}
	agent, cli := open(), open()
	if _, err := agent.AddTenant(ctx, "acme", "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	issued, err := agent.IssueToken(ctx, "acme", "entra", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := issued.Token.Reveal()
	if _, err := agent.Authenticate(ctx, "acme", tok); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.RevokeToken(ctx, issued.Record.ID); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Second)
	if _, err := agent.Authenticate(ctx, "acme", tok); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("a second after the revocation: got %v, want ErrUnauthenticated", err)
	}
	// The process that revoked refuses it at once.
	if _, err := cli.Authenticate(ctx, "acme", tok); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("in the revoking process: got %v, want ErrUnauthenticated", err)
	}
}
