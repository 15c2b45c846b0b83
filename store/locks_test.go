package store

import (
	"testing"
	"time"
)

// TestLockRows: the statements behind the named locks.
func TestLockRows(t *testing.T) {
	db := openTest(t, Options{})
	now := t0
	lock := func(name, owner string, at time.Time) bool {
		t.Helper()
		var ok bool
		mustWrite(t, db, func(tx *Tx) (err error) { ok, err = tx.AcquireLock(name, owner, at, at.Add(time.Minute)); return })
		return ok
	}
	if !lock("issue", "A", now) {
		t.Fatal("A did not get a free lock")
	}
	if lock("issue", "B", now.Add(30*time.Second)) {
		t.Fatal("B took A's lock before it expired")
	}
	if lock("issue", "A", now.Add(30*time.Second)) {
		t.Fatal("a second acquisition by the same owner succeeded; locks are not reentrant")
	}
	if !lock("other", "B", now) {
		t.Fatal("B did not get another free lock")
	}
	var ok bool
	// A keeps its lock alive.
	mustWrite(t, db, func(tx *Tx) (err error) { ok, err = tx.ExtendLock("issue", "A", now.Add(2*time.Minute)); return })
	if !ok {
		t.Fatal("A could not extend its lock")
	}
	if lock("issue", "B", now.Add(90*time.Second)) {
		t.Fatal("B took A's extended lock")
	}
	mustWrite(t, db, func(tx *Tx) (err error) { ok, err = tx.ExtendLock("issue", "B", now.Add(5*time.Minute)); return })
	if ok {
		t.Fatal("B extended A's lock")
	}
	mustWrite(t, db, func(tx *Tx) (err error) { ok, err = tx.ReleaseLock("issue", "B"); return })
	if ok {
		t.Fatal("B released A's lock")
	}
	// A stops extending it (it died): it expires, and B takes it over.
	if !lock("issue", "B", now.Add(2*time.Minute)) {
		t.Fatal("B did not take over the expired lock")
	}
	mustWrite(t, db, func(tx *Tx) (err error) { ok, err = tx.ReleaseLock("issue", "A"); return })
	if ok {
		t.Fatal("A released the lock B took over")
	}
	mustWrite(t, db, func(tx *Tx) (err error) { ok, err = tx.ReleaseLock("issue", "B"); return })
	if !ok {
		t.Fatal("B could not release its lock")
	}
	if !lock("issue", "C", now.Add(2*time.Minute)) {
		t.Fatal("C did not get the released lock")
	}
}
