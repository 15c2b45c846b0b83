package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/store"
)

// seedMigrate gives a data dir a tenant with a token, two users and a
// group holding both, as an agent Entra provisioned would hold.
func seedMigrate(t *testing.T, dir string) {
	t.Helper()
	if _, _, err := runCLI(t, dir, "tenant", "add", "contoso", "--name", "Contoso Ltd"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, dir, "token", "issue", "--tenant", "contoso", "--name", "entra"); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), filepath.Join(dir, agent.DatabaseFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	err = db.Write(context.Background(), func(tx *store.Tx) error {
		g := &store.Resource{TenantID: "contoso", Kind: store.KindGroup, ID: "g-1", Doc: map[string]any{"displayName": "Engineering"}, Created: now, Modified: now}
		for _, r := range []*store.Resource{
			{TenantID: "contoso", Kind: store.KindUser, ID: "u-1", Doc: map[string]any{"userName": "ada@contoso.com", "active": true}, Created: now, Modified: now},
			{TenantID: "contoso", Kind: store.KindUser, ID: "u-2", Doc: map[string]any{"userName": "bob@contoso.com", "active": true}, Created: now, Modified: now},
			g,
		} {
			if err := tx.InsertResource(r); err != nil {
				return err
			}
		}
		_, err := tx.AddMembers("contoso", g.Seq, []store.Member{{Value: "u-1", Type: store.KindUser}, {Value: "u-2", Type: store.KindUser}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateToPostgres runs roster migrate as a user would: the copy
// verifies, the commands then read the same directory from PostgreSQL, and
// a second migrate into the now full database is refused.
func TestMigrateToPostgres(t *testing.T) {
	dir := t.TempDir()
	seedMigrate(t, dir)
	url := pgtest.New(t)
	reads := func() []string {
		var out []string
		for _, args := range [][]string{{"users", "list", "--json"}, {"groups", "list", "--json"}, {"token", "list", "--json"}, {"groups", "show", "Engineering"}} {
			o, _, err := runCLI(t, dir, append(args, "--tenant", "contoso")...)
			if err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			out = append(out, o)
		}
		return out
	}
	before := reads()

	out, _, err := runCLI(t, dir, "migrate", "--to", url)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	t.Logf("roster migrate --to URL:\n%s", out)
	for _, want := range []string{"tenants   ", "resources", "counts and checksums match", "ROSTER_DATABASE_URL=", "as a backup"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate's output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "DIFFERS") {
		t.Errorf("migrate reported a difference:\n%s", out)
	}

	t.Setenv("ROSTER_DATABASE_URL", url)
	after := reads()
	for i := range before {
		if before[i] != after[i] {
			t.Errorf("read %d differs on PostgreSQL:\nSQLite:\n%s\nPostgreSQL:\n%s", i, before[i], after[i])
		}
	}
	if !strings.Contains(after[0], "ada@contoso.com") || !strings.Contains(after[3], "bob@contoso.com") {
		t.Errorf("the reads do not show the seeded directory: %v", after)
	}

	_, _, err = runCLI(t, dir, "migrate", "--to", url)
	if err == nil || !strings.Contains(err.Error(), "already holds data") || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("migrate into a database with data = %v; want a refusal that names --replace", err)
	}
	out, _, err = runCLI(t, dir, "migrate", "--to", url, "--replace", "--json")
	if err != nil {
		t.Fatalf("migrate --replace --json: %v", err)
	}
	var rep struct {
		Match  bool `json:"match"`
		Tables []struct {
			Table       string `json:"table"`
			SourceRows  int64  `json:"source_rows"`
			Destination int64  `json:"destination_rows"`
		} `json:"tables"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !rep.Match || len(rep.Tables) == 0 || rep.Tables[1].Table != "tenants" || rep.Tables[1].SourceRows != 1 || rep.Tables[1].Destination != 1 {
		t.Errorf("migrate --json = %+v", rep)
	}
}

// TestMigrateRefusesWhileAgentRuns: migrate takes the data directory's
// lock, so an agent running on it makes migrate fail, saying so.
func TestMigrateRefusesWhileAgentRuns(t *testing.T) {
	dir := t.TempDir()
	seedMigrate(t, dir)
	agentDB, err := store.Open(context.Background(), filepath.Join(dir, agent.DatabaseFile), store.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer agentDB.Close()
	_, _, err = runCLI(t, dir, "migrate", "--to", "postgres://roster@127.0.0.1:1/roster")
	var locked *store.LockedError
	if !errors.As(err, &locked) || !strings.Contains(err.Error(), "no agent is writing") || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("migrate beside a running agent = %v", err)
	}
}

// TestMigrateUsage: the destination must be given, as a PostgreSQL URL.
func TestMigrateUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"migrate"}, {"migrate", "--to", filepath.Join(dir, "other.db")}} {
		_, _, err := runCLI(t, dir, args...)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "postgres://") {
			t.Errorf("%v = %v; want a usage error asking for a postgres:// URL", args, err)
		}
	}
	_, _, err := runCLI(t, dir, "migrate", "--to", "postgres://roster@127.0.0.1:1/roster")
	if err == nil || !strings.Contains(err.Error(), "no Roster database at") {
		t.Errorf("migrate of an empty data dir = %v", err)
	}
}
