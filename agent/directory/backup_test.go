package directory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/store"
)

func TestBackupAndRestore(t *testing.T) {
	if pgtest.Postgres() {
		t.Skip("SQLite only: on PostgreSQL, back up with pg_dump (docs/postgresql.md)")
	}
	ctx := context.Background()
	when := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, "roster.db")
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := New(db, nil, nil)
	if _, err := s.AddTenant(ctx, "t1", "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	create := func(i int) error {
		_, err := s.Create(ctx, Call{TenantID: "t1", BaseURL: "http://x"}, store.KindUser, map[string]any{"schemas": []any{scim.SchemaUser}, "userName": fmt.Sprintf("user%d@example.com", i)})
		return err
	}
	for i := range 20 {
		if err := create(i); err != nil {
			t.Fatal(err)
		}
	}
	// The backup is taken while users keep arriving.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 20; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := create(i); err != nil {
				t.Errorf("write during backup: %v", err)
				return
			}
		}
	}()
	backup := filepath.Join(t.TempDir(), "backup.db")
	err = s.Backup(ctx, backup)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	users := func(s *Service) int {
		t.Helper()
		ts, err := s.Tenants(ctx)
		if err != nil || len(ts) != 1 {
			t.Fatalf("tenants %v, %v", ts, err)
		}
		return ts[0].Users
	}
	inBackup := func() int {
		b, err := store.Open(ctx, backup, store.Options{MustExist: true})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		return users(New(b, nil, nil))
	}()
	if inBackup < 20 {
		t.Fatalf("backup holds %d users, want at least the 20 written before it", inBackup)
	}
	if err := create(10_000); err != nil {
		t.Fatal(err)
	}
	total := users(s)

	running := func(context.Context) AgentState { return AgentState{Reachable: true, Address: "http://127.0.0.1:8080"} }
	stopped := func(context.Context) AgentState { return AgentState{Detail: "no agent answers"} }
	if _, err := Restore(ctx, backup, path, when, running); !errors.Is(err, ErrAgentRunning) {
		t.Fatalf("Restore while the agent runs = %v, want ErrAgentRunning", err)
	}
	if got := users(s); got != total {
		t.Fatalf("after the refused restore the store has %d users, want %d", got, total)
	}
	db.Close()
	kept, err := Restore(ctx, backup, path, when, stopped)
	if err != nil {
		t.Fatal(err)
	}
	if want := path + ".before-restore-20260301T120000Z"; kept != want {
		t.Errorf("kept = %q, want %q", kept, want)
	}
	for file, want := range map[string]int{path: inBackup, kept: total} {
		db, err := store.Open(ctx, file, store.Options{MustExist: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := users(New(db, nil, nil)); got != want {
			t.Errorf("%s: %d users, want %d", filepath.Base(file), got, want)
		}
		db.Close()
	}
	if _, err := os.Stat(backup); err != nil {
		t.Errorf("the backup file is gone after the restore: %v", err)
	}
}
