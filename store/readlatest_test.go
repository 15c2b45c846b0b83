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
