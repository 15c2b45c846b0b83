package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestChangeSeqsAreAPrefix appends changes from concurrent writers (batched
// by group commit, a third of them rolled back) while readers read the log:
// every read must see seqs 1..n of a tenant with none missing, heads never
// go back, and at the end the log holds exactly the committed writes.
func TestChangeSeqsAreAPrefix(t *testing.T) {
	checkChangeSeqs(t, openTest(t, Options{}))
}

// TestChangeSeqsAreAPrefixAcrossAgents is TestChangeSeqsAreAPrefix with the
// writes and reads spread over two stores on one database: two agents on
// PostgreSQL (or a command beside the agent on one SQLite file). Their
// transactions interleave, yet each tenant's seqs stay gap-free and in
// commit order.
func TestChangeSeqsAreAPrefixAcrossAgents(t *testing.T) {
	db, other := openTwoAgents(t)
	checkChangeSeqs(t, db, other)
}

// checkChangeSeqs runs 6 writers appending changes to two tenants, a third
// of them rolled back, through the stores in turn, while 3 readers check
// that every snapshot holds a prefix of each tenant's seqs.
func checkChangeSeqs(t *testing.T, dbs ...*DB) {
	db := dbs[0]
	tenants := []string{"a", "b"}
	for _, id := range tenants {
		addTenant(t, db, id)
	}
	ctx := context.Background()
	errRolledBack := errors.New("rolled back on purpose")
	var committed [2]atomic.Int64
	var writers, readers sync.WaitGroup
	for w := range 6 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 150 {
				ti := (w + i) % 2
				fail := i%3 == 0
				err := dbs[w%len(dbs)].Write(ctx, func(tx *Tx) error {
					if _, err := tx.AppendChange(tenants[ti], fmt.Sprintf("%d-%d", w, i), "user.created", t0, []byte(`{"w":`+strconv.Itoa(w)+`}`)); err != nil {
						return err
					}
					if fail {
						return errRolledBack
					}
					return nil
				})
				switch {
				case fail && !errors.Is(err, errRolledBack):
					t.Errorf("a failing write returned %v", err)
				case !fail && err != nil:
					t.Errorf("write: %v", err)
				case !fail:
					committed[ti].Add(1)
				}
			}
		}()
	}
	done := make(chan struct{})
	for r := range 3 {
		readers.Add(1)
		go func() {
			db := dbs[r%len(dbs)]
			defer readers.Done()
			var heads [2]int64
			for {
				select {
				case <-done:
					return
				default:
				}
				for ti, id := range tenants {
					err := db.Read(ctx, func(tx *Tx) error {
						last, _, err := tx.ChangeHead(id)
						if err != nil {
							return err
						}
						cs, err := tx.Changes(id, 0, 100000, nil)
						if err != nil {
							return err
						}
						if int64(len(cs)) != last {
							return fmt.Errorf("tenant %s: head %d but %d changes", id, last, len(cs))
						}
						for i, c := range cs {
							if c.Seq != int64(i+1) || !strings.HasPrefix(string(c.Record), `{"w":`) {
								return fmt.Errorf("tenant %s: change %d has seq %d, record %s", id, i, c.Seq, c.Record)
							}
						}
						if last < heads[ti] {
							return fmt.Errorf("tenant %s: head went back from %d to %d", id, heads[ti], last)
						}
						heads[ti] = last
						return nil
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	writers.Wait()
	close(done)
	readers.Wait()
	for ti, id := range tenants {
		mustRead(t, db, func(tx *Tx) error {
			last, _, err := tx.ChangeHead(id)
			if last != committed[ti].Load() {
				t.Errorf("tenant %s: %d changes, %d writes committed", id, last, committed[ti].Load())
			}
			return err
		})
	}
}

// TestWaitChangeSeesAnotherProcess writes through a second store on the
// same file (as `roster` commands do beside the agent) and checks that a
// waiter on the first one wakes.
func TestWaitChangeSeesAnotherProcess(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, "a")
	other, err := Open(context.Background(), db.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	done := make(chan error, 1)
	go func() { done <- db.WaitChange(context.Background(), "a", 0) }()
	mustWrite(t, other, func(tx *Tx) error {
		_, err := tx.AppendChange("a", "x", "user.created", t0, []byte(`{}`))
		return err
	})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestWaitChangeNotifiedAcrossAgents: on PostgreSQL, a waiter on one agent's
// store wakes when another agent's store commits a change, through
// LISTEN/NOTIFY: the waiter's poll interval is an hour, so no poll can wake
// it. When the listening connection is lost, the poller takes over until
// it is back, and waiters still wake.
func TestWaitChangeNotifiedAcrossAgents(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	a := openTest(t, Options{PollInterval: time.Hour})
	addTenant(t, a, "a")
	b, err := Open(ctx, a.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	appendOne := func(id string) {
		t.Helper()
		mustWrite(t, b, func(tx *Tx) error { _, err := tx.AppendChange("a", id, "user.created", t0, []byte(`{}`)); return err })
	}
	wait := func(after int64) chan error {
		done := make(chan error, 1)
		go func() { done <- a.WaitChange(ctx, "a", after) }()
		return done
	}
	returned := func(done chan error) func() bool {
		return func() bool {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("WaitChange: %v", err)
				}
				return true
			default:
				return false
			}
		}
	}
	done := wait(0)
	waitFor(t, "the listener", a.notify.isListening)
	notes := a.notify.notes.Load()
	appendOne("x1")
	waitFor(t, "the waiter to wake", returned(done))
	waitFor(t, "the notification", func() bool { return a.notify.notes.Load() > notes })

	// A second waiter, with the listener up from the start.
	done = wait(1)
	notes = a.notify.notes.Load()
	appendOne("x2")
	waitFor(t, "the second waiter to wake", returned(done))
	if a.notify.notes.Load() == notes {
		t.Error("the second waiter woke without a notification")
	}

	// The server ends the listening session: the store listens again.
	raw, err := sql.Open("pgx", a.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	listens := a.notify.listens.Load()
	n = 0
	if err := raw.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN `+changesChannel+`'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("terminated %d listening sessions, want 1", n)
	}
	waitFor(t, "the listener to come back", func() bool { return a.notify.listens.Load() > listens })
	done = wait(2)
	appendOne("x3")
	waitFor(t, "a waiter after the reconnect to wake", returned(done))
}
