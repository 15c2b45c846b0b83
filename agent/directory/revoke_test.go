package directory

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/store"
)

// openServiceAt opens a Service over a store of its own on location (a
// file or a PostgreSQL URL), as another agent or process would; it is
// closed when the test ends.
func openServiceAt(t *testing.T, location string, now func() time.Time) *Service {
	t.Helper()
	db, err := store.Open(context.Background(), location, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(db, nil, now)
}

// TestRevocationFromAnotherProcess: a token revoked through another
// Service on the same database file (another process, such as `roster
// token revoke`) is refused by a running Service within a second. The
// clock is fake: this checks the cache's bound, not the machine's speed.
func TestRevocationFromAnotherProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roster.db")
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	agent, cli := openServiceAt(t, path, clock.Now), openServiceAt(t, path, clock.Now)
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

// TestRevocationAcrossAgents: two agents on one database (on SQLite, two
// stores on one file; on PostgreSQL, two agents). A Secret Token, and the
// access token of an OAuth client, revoked through one agent are refused
// by the other within 1 s of the revocation's acknowledgement, measured on
// the real clock: the bound is the cache's TTL (authCacheTTL), a
// correctness bound, not a measure of speed. The client's secret is
// refused at once.
func TestRevocationAcrossAgents(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			location := filepath.Join(t.TempDir(), "roster.db")
			if backend == "postgres" {
				location = pgtest.New(t)
			}
			a, b := openServiceAt(t, location, nil), openServiceAt(t, location, nil)
			if _, err := a.AddTenant(ctx, "acme", "", store.TenantSettings{}); err != nil {
				t.Fatal(err)
			}
			issued, err := a.IssueToken(ctx, "acme", "entra", false, nil)
			if err != nil {
				t.Fatal(err)
			}
			secretToken := issued.Token.Reveal()
			client, err := a.AddOAuthClient(ctx, NewOAuthClient{Tenant: "acme", Name: "entra-oauth"})
			if err != nil {
				t.Fatal(err)
			}
			cred := ClientCredentials{ClientID: client.Client.ID, Secret: client.Secret.Reveal()}
			at, err := grant(t, a, "acme", cred)
			if err != nil {
				t.Fatal(err)
			}
			accessToken := at.Token.Reveal()
			// A authenticates both, so both are in its cache.
			for _, tok := range []string{secretToken, accessToken} {
				if _, err := a.Authenticate(ctx, "acme", tok); err != nil {
					t.Fatal(err)
				}
			}
			// refusedWithin1s polls A until it refuses tok, failing if that
			// takes more than a second from acked.
			refusedWithin1s := func(what, tok string, acked time.Time) {
				t.Helper()
				for {
					_, err := a.Authenticate(ctx, "acme", tok)
					if errors.Is(err, ErrUnauthenticated) {
						return
					}
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					if time.Since(acked) > time.Second {
						t.Fatalf("%s: the other agent still accepts it 1 s after the revocation", what)
					}
					time.Sleep(time.Millisecond)
				}
			}
			if _, err := b.RevokeToken(ctx, issued.Record.ID); err != nil {
				t.Fatal(err)
			}
			refusedWithin1s("revoked Secret Token", secretToken, time.Now())
			if _, err := a.Authenticate(ctx, "acme", accessToken); err != nil {
				t.Fatalf("the OAuth access token before its client's revocation: %v", err)
			}
			if _, err := b.RevokeOAuthClient(ctx, client.Client.ID); err != nil {
				t.Fatal(err)
			}
			refusedWithin1s("access token of a revoked OAuth client", accessToken, time.Now())
			if _, err := a.AuthenticateOAuthClient(ctx, "acme", cred); err == nil {
				t.Error("the other agent still grants tokens to the revoked OAuth client")
			}
		})
	}
}
