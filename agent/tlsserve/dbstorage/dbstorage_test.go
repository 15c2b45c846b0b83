package dbstorage

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/store"
)

// openDB opens the store file in dir; two calls on one dir are two agents
// on one database.
func openDB(t *testing.T, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(dir, "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// clock is a settable clock shared by the storages of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestStorageContract(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	s := New(openDB(t, t.TempDir()), Options{Now: clk.Now})
	for _, k := range []string{"certificates/ca/example.com/example.com.crt", "certificates/ca/example.com/example.com.key",
		"certificates/ca/other.com/other.com.crt", "acme/ca/users/a@b/a.json", "last_clean.json"} {
		if err := s.Store(ctx, k, []byte("v:"+k)); err != nil {
			t.Fatal(err)
		}
	}
	clk.Set(t0.Add(time.Hour))
	if err := s.Store(ctx, "last_clean.json", []byte("newer")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Load(ctx, "last_clean.json"); err != nil || string(v) != "newer" {
		t.Errorf("Load after overwrite = %q, %v", v, err)
	}
	for _, k := range []string{"nope", "certificates", "certificates/ca/example.com/example.com"} {
		if _, err := s.Load(ctx, k); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load(%q) error %v, want fs.ErrNotExist", k, err)
		}
	}

	// Stat: values, directories, missing keys.
	ki, err := s.Stat(ctx, "last_clean.json")
	if err != nil || !ki.IsTerminal || ki.Size != int64(len("newer")) || !ki.Modified.Equal(t0.Add(time.Hour)) || ki.Key != "last_clean.json" {
		t.Errorf("Stat(value) = %+v, %v", ki, err)
	}
	if ki, err := s.Stat(ctx, "certificates/ca"); err != nil || ki.IsTerminal {
		t.Errorf("Stat(directory) = %+v, %v; want a non-terminal key", ki, err)
	}
	for _, k := range []string{"nope", "certificates/c", "last_clean"} {
		if _, err := s.Stat(ctx, k); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%q) error %v, want fs.ErrNotExist", k, err)
		}
		if s.Exists(ctx, k) {
			t.Errorf("Exists(%q) = true", k)
		}
	}
	for _, k := range []string{"certificates", "certificates/ca/other.com/other.com.crt", "acme/ca/users"} {
		if !s.Exists(ctx, k) {
			t.Errorf("Exists(%q) = false", k)
		}
	}

	// List, recursive and not, as FileStorage's walk lists them.
	for _, tc := range []struct {
		prefix    string
		recursive bool
		want      []string
	}{
		{"certificates/ca", false, []string{"certificates/ca/example.com", "certificates/ca/other.com"}},
		{"certificates/ca", true, []string{"certificates/ca/example.com", "certificates/ca/example.com/example.com.crt",
			"certificates/ca/example.com/example.com.key", "certificates/ca/other.com", "certificates/ca/other.com/other.com.crt"}},
		{"certificates/ca/example.com", false, []string{"certificates/ca/example.com/example.com.crt", "certificates/ca/example.com/example.com.key"}},
		{"", false, []string{"acme", "certificates", "last_clean.json"}},
		{"acme", true, []string{"acme/ca", "acme/ca/users", "acme/ca/users/a@b", "acme/ca/users/a@b/a.json"}},
		{"last_clean.json", false, nil}, // a value: nothing below it
	} {
		got, err := s.List(ctx, tc.prefix, tc.recursive)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("List(%q, %v) = %q, %v; want %q", tc.prefix, tc.recursive, got, err, tc.want)
		}
	}
	if _, err := s.List(ctx, "certificates/c", false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List of a missing prefix: %v, want fs.ErrNotExist", err)
	}

	// Delete: a value, a directory with everything below it, a missing key.
	if err := s.Delete(ctx, "certificates/ca/example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "acme/ca/users/a@b/a.json"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "never/was"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
	got, err := s.List(ctx, "", true)
	if want := []string{"certificates", "certificates/ca", "certificates/ca/other.com", "certificates/ca/other.com/other.com.crt", "last_clean.json"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("after Delete: List = %q, %v; want %q", got, err, want)
	}
	if s.Exists(ctx, "acme") {
		t.Error("Exists(acme) after deleting its only value")
	}
}

// TestLockExclusion runs goroutines of two agents (two store.DB on one
// SQLite file) that take the same lock: never two inside at once.
func TestLockExclusion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	a, b := New(openDB(t, dir), Options{}), New(openDB(t, dir), Options{})
	if err := a.Lock(ctx, "issue_cert_example.com"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TryLock(ctx, "issue_cert_example.com"); ok || err != nil {
		t.Fatalf("the other agent's TryLock of a held lock = %v, %v", ok, err)
	}
	if ok, err := a.TryLock(ctx, "issue_cert_example.com"); ok || err != nil {
		t.Fatalf("a second TryLock by the holder = %v, %v; locks are not reentrant", ok, err)
	}
	if err := b.Unlock(ctx, "issue_cert_example.com"); err == nil {
		t.Fatal("the other agent unlocked a lock it does not hold")
	}
	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx, "issue_cert_example.com") }()
	select {
	case err := <-got:
		t.Fatalf("the other agent's Lock returned (%v) while the lock is held", err)
	default:
	}
	if err := a.Unlock(ctx, "issue_cert_example.com"); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("the other agent's Lock after the release: %v", err)
	}
	if err := b.Unlock(ctx, "issue_cert_example.com"); err != nil {
		t.Fatal(err)
	}

	// Many contenders on both agents.
	var inside, entered atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		s := []*Storage{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				if err := s.Lock(ctx, "renew"); err != nil {
					t.Error(err)
					return
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d holders of one lock", n)
				}
				entered.Add(1)
				inside.Add(-1)
				if err := s.Unlock(ctx, "renew"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if entered.Load() != 24 {
		t.Errorf("%d entries, want 24", entered.Load())
	}

	// A waiter gives up when its context ends.
	if err := a.Lock(ctx, "held"); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	go wcancel()
	if err := b.Lock(wctx, "held"); !errors.Is(err, context.Canceled) {
		t.Errorf("Lock with a cancelled context = %v, want context.Canceled", err)
	}
}

// TestLockExpiry: the lock of an agent that stopped refreshing it expires
// and another takes it over; the old holder cannot release the lock that is
// no longer its own.
func TestLockExpiry(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clk := &clock{now: t0}
	// An hour's TTL: the refresher does not tick during the test.
	opt := Options{LockTTL: time.Hour, Now: clk.Now}
	a, b := New(openDB(t, dir), opt), New(openDB(t, dir), opt)
	if err := a.Lock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(50 * time.Minute)) // before the expiry
	if ok, err := b.TryLock(ctx, "x"); ok || err != nil {
		t.Fatalf("TryLock of a held lock = %v, %v", ok, err)
	}
	clk.Set(t0.Add(61 * time.Minute)) // a stopped refreshing: expired
	if ok, err := b.TryLock(ctx, "x"); !ok || err != nil {
		t.Fatalf("TryLock of an expired lock = %v, %v; want it taken over", ok, err)
	}
	if err := a.Unlock(ctx, "x"); err == nil {
		t.Error("the old holder released the lock another agent took over")
	}
	if ok, _ := a.TryLock(ctx, "x"); ok {
		t.Fatal("the old holder's Unlock freed the new holder's lock")
	}
	if err := b.Unlock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
}

// TestDeadAgentLock: an agent dies holding a lock (its database closed, its
// refresher stopped); with a short TTL, the other agent's waiting Lock gets
// it once it expired.
func TestDeadAgentLock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	deadDB, err := store.Open(ctx, filepath.Join(dir, "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dead := New(deadDB, Options{LockTTL: 300 * time.Millisecond})
	if err := dead.Lock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	deadDB.Close() // its refresher's writes now fail: the lock is no longer extended
	live := New(openDB(t, dir), Options{LockTTL: 300 * time.Millisecond})
	if err := live.Lock(ctx, "x"); err != nil {
		t.Fatalf("Lock of a dead agent's lock: %v", err)
	}
	if err := live.Unlock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	dead.mu.Lock()
	l := dead.held["x"]
	dead.mu.Unlock()
	<-l.Lost() // its refresher noticed the closed store and stopped
}

// TestRefresher: the holder's background refresher moves its lock's expiry
// forward, so the lock is still held long after its first expiry.
func TestRefresher(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clk := &clock{now: t0}
	db := openDB(t, dir)
	a := New(db, Options{LockTTL: time.Hour, Now: clk.Now})
	a.every = 5 * time.Millisecond
	if err := a.Lock(ctx, "x"); err != nil { // expires at t0+1h
		t.Fatal(err)
	}
	clk.Set(t0.Add(10 * time.Hour))
	deadline := time.Now().Add(30 * time.Second)
	for {
		var exp time.Time
		if err := db.Read(ctx, func(tx *store.Tx) (err error) { _, exp, err = tx.Lock("x"); return }); err != nil {
			t.Fatal(err)
		}
		if !exp.Before(t0.Add(11 * time.Hour)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refresher did not extend the lock within 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	b := New(openDB(t, dir), Options{Now: func() time.Time { return t0.Add(10*time.Hour + 30*time.Minute) }})
	if ok, err := b.TryLock(ctx, "x"); ok || err != nil {
		t.Fatalf("TryLock of a lock its holder keeps extending = %v, %v", ok, err)
	}
	if err := a.Unlock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TryLock(ctx, "x"); !ok || err != nil {
		t.Fatalf("TryLock after Unlock = %v, %v", ok, err)
	}
}
