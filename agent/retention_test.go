package agent_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/store"
)

// TestServePrunesEvents: the agent prunes provisioning events older than
// Options.EventRetention (event_retention_days) when it starts, and keeps
// the newer ones.
func TestServePrunesEvents(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dir := directory.New(db, nil, nil)
	ctx := context.Background()
	now := time.Now()
	err = db.Write(ctx, func(tx *store.Tx) error {
		for _, at := range []time.Time{now.Add(-72 * time.Hour), now.Add(-25 * time.Hour), now.Add(-time.Hour)} {
			if err := tx.InsertEvent(&store.Event{At: at, TenantID: "t", Method: "POST", Path: "/x", Status: 201}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- agent.New(dir, agent.Options{EventRetention: 24 * time.Hour}).Serve(sctx, listen(t)) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		evs, err := dir.Events(ctx, store.EventQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 1 {
			if got := evs[0].At; got.Before(now.Add(-2 * time.Hour)) {
				t.Errorf("kept the event of %v, want the one of an hour ago", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events after start: got %d, want the 1 newer than a day", len(evs))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
