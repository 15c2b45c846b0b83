package store

import (
	"context"
	"errors"
	"testing"
)

// TestReadLatest: without a snapshot, a later statement sees a write that
// committed after an earlier one; after Close it refuses.
func TestReadLatest(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	addTenant(t, db, "t1")
	count := func(tx *Tx) int {
		n, err := tx.CountResources("t1", KindUser)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var first, second int
	err := db.ReadLatest(ctx, func(tx *Tx) error {
		first = count(tx)
		insert(t, db, newUser("t1", "u1", "a@x.test")) // commits between the two statements
		second = count(tx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if first != 0 || second != 1 {
		t.Errorf("counts got %d then %d, want 0 then 1", first, second)
	}
	db.Close()
	if err := db.ReadLatest(ctx, func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: got %v, want ErrClosed", err)
	}
}

// TestReadsWithAnEndedContext: a read whose context has ended fails with
// the context's error on both backends, never with what the driver makes
// of a cancelled statement (pgx reported "bad connection", seen in
// agent/directory's TestChangeLogFilterAndWait), and the reader it would
// have used still works afterwards.
func TestReadsWithAnEndedContext(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, "t1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 20 {
		for name, read := range map[string]func(context.Context, func(*Tx) error) error{"Read": db.Read, "ReadLatest": db.ReadLatest} {
			err := read(ctx, func(tx *Tx) error { _, err := tx.Tenant("t1"); return err })
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s %d with a cancelled context: %v, want context.Canceled", name, i, err)
			}
		}
		if err := db.WaitChange(ctx, "t1", 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("WaitChange %d with a cancelled context: %v, want context.Canceled", i, err)
		}
	}
	mustRead(t, db, func(tx *Tx) error { _, err := tx.Tenant("t1"); return err })
}
