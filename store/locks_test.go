package store

import (
	"context"
	"sync"
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

// TestLease: one holder at a time; the holder keeps its lease alive past
// its TTL; Release frees it for another at once; a lease taken over by
// another (its holder seen dead) is Lost to its old holder; a dead
// holder's lease passes to another once it expired.
func TestLease(t *testing.T) {
	ctx := context.Background()
	a, b := openTwoAgents(t)
	take := func(db *DB, opt LeaseOptions) *Lease {
		t.Helper()
		l, err := db.TryLease(ctx, "work", opt)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	// A's clock is set by the test; its lease lives an hour and A extends
	// it every 5 ms.
	clk := &testClock{now: t0}
	la := take(a, LeaseOptions{TTL: time.Hour, Now: clk.Now, Every: 5 * time.Millisecond})
	if la == nil {
		t.Fatal("A did not get a free lease")
	}
	if take(b, LeaseOptions{TTL: time.Hour, Now: clk.Now}) != nil {
		t.Fatal("B took A's lease")
	}
	// Ten hours later (by A's clock), A's extensions moved the expiry on.
	clk.Set(t0.Add(10 * time.Hour))
	waitFor(t, "an extension", func() bool {
		var exp time.Time
		mustRead(t, a, func(tx *Tx) (err error) { _, exp, err = tx.Lock("work"); return })
		return !exp.Before(t0.Add(11 * time.Hour))
	})
	if take(b, LeaseOptions{TTL: time.Hour, Now: func() time.Time { return t0.Add(10*time.Hour + 30*time.Minute) }}) != nil {
		t.Fatal("B took a lease its holder keeps extending")
	}
	select {
	case <-la.Lost():
		t.Fatal("A's lease was lost while A extended it")
	default:
	}
	if err := la.Release(); err != nil {
		t.Fatal(err)
	}
	const ttl = 150 * time.Millisecond
	lb := take(b, LeaseOptions{TTL: ttl})
	if lb == nil {
		t.Fatal("B did not get the released lease")
	}
	// C's clock is an hour ahead: B looks dead to it, and C takes the
	// lease over; B's next extension finds it gone.
	lc := take(a, LeaseOptions{TTL: ttl, Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if lc == nil {
		t.Fatal("C did not take over a lease expired by its clock")
	}
	waitFor(t, "B to lose its lease", func() bool {
		select {
		case <-lb.Lost():
			return true
		default:
			return false
		}
	})
	if err := lb.Release(); err == nil {
		t.Error("B released a lease C holds")
	}
	if err := lc.Release(); err != nil {
		t.Fatal(err)
	}
	// A dead holder (its store closed: no more extensions): its lease
	// expires and passes to another.
	dead, err := Open(ctx, a.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ld := take(dead, LeaseOptions{TTL: ttl})
	if ld == nil {
		t.Fatal("the doomed holder did not get the free lease")
	}
	dead.Close()
	<-ld.Lost()
	var la2 *Lease
	waitFor(t, "A to take the dead holder's lease", func() bool { la2 = take(a, LeaseOptions{TTL: ttl}); return la2 != nil })
	if err := la2.Release(); err != nil {
		t.Fatal(err)
	}
}

// testClock is a clock that a test sets.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }
