package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// appendOne appends a change to the tenant's log in its own write and
// returns its seq.
func appendOne(t *testing.T, db *DB, tenant string) int64 {
	t.Helper()
	var seq int64
	mustWrite(t, db, func(tx *Tx) (err error) {
		seq, err = tx.AppendChange(tenant, "c", "user.created", t0, []byte(`{}`))
		return err
	})
	return seq
}

// logSeqs returns the seqs the tenant's log holds, in order.
func logSeqs(t *testing.T, db *DB, tenant string) []int64 {
	t.Helper()
	var seqs []int64
	mustRead(t, db, func(tx *Tx) error {
		cs, err := tx.Changes(tenant, 0, 1000, nil)
		for _, c := range cs {
			seqs = append(seqs, c.Seq)
		}
		return err
	})
	return seqs
}

func wantSeqs(t *testing.T, got []int64, want ...int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("the log holds seqs %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("the log holds seqs %v, want %v", got, want)
		}
	}
}

// TestChangeHeadsFollowAnotherWriter: the writer keeps each tenant's newest
// seq, and a second store on the same file (another process's writer)
// appends, prunes, and deletes and re-adds the tenant in between. Every
// append must still take the next seq of the log as it is on disk.
func TestChangeHeadsFollowAnotherWriter(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, "a")
	other, err := Open(context.Background(), db.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	for i, w := range []*DB{db, other, db, db, other, db} {
		if got := appendOne(t, w, "a"); got != int64(i+1) {
			t.Fatalf("append %d: seq %d, want %d", i+1, got, i+1)
		}
	}
	wantSeqs(t, logSeqs(t, db, "a"), 1, 2, 3, 4, 5, 6)

	// The other store prunes the whole log: numbering goes on after it.
	mustWrite(t, other, func(tx *Tx) error { _, err := tx.PruneChanges(t0.Add(time.Hour)); return err })
	if got := appendOne(t, db, "a"); got != 7 {
		t.Fatalf("after pruning: seq %d, want 7", got)
	}

	// The other store deletes the tenant and adds it again: a new log,
	// which starts at 1 as on a fresh store.
	mustWrite(t, other, func(tx *Tx) error { return tx.DeleteTenant("a") })
	addTenant(t, other, "a")
	if got := appendOne(t, db, "a"); got != 1 {
		t.Fatalf("after the tenant was deleted and added again by another store: seq %d, want 1", got)
	}
	wantSeqs(t, logSeqs(t, db, "a"), 1)
}

// TestChangeHeadsDeleteTenant: deleting a tenant on the same store forgets
// its head, so that the tenant added again starts a new log at 1.
func TestChangeHeadsDeleteTenant(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, "a")
	appendOne(t, db, "a")
	appendOne(t, db, "a")
	mustWrite(t, db, func(tx *Tx) error { return tx.DeleteTenant("a") })
	addTenant(t, db, "a")
	if got := appendOne(t, db, "a"); got != 1 {
		t.Fatalf("seq %d after the tenant was added again, want 1", got)
	}
}

// TestChangeHeadsRollback: a write that appended and then failed, alone in
// its transaction or beside others in one batch (rolled back to its
// savepoint), leaves no hole: the next append takes the seq it had.
func TestChangeHeadsRollback(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	addTenant(t, db, "a")
	addTenant(t, db, "b")
	errFail := errors.New("fails on purpose")
	appendThenFail := func(tx *Tx) error {
		if _, err := tx.AppendChange("a", "x", "user.created", t0, []byte(`{}`)); err != nil {
			return err
		}
		if _, err := tx.AppendChange("b", "x", "user.created", t0, []byte(`{}`)); err != nil {
			return err
		}
		return errFail
	}
	appendOne(t, db, "a")

	// Alone: the whole transaction rolls back.
	if err := db.Write(ctx, appendThenFail); !errors.Is(err, errFail) {
		t.Fatalf("the failing write returned %v", err)
	}
	if got := appendOne(t, db, "a"); got != 2 {
		t.Fatalf("after a rolled-back transaction: seq %d, want 2", got)
	}

	// In one batch: hold the writer with a first write until the next
	// three are queued, so that they share one transaction.
	release := make(chan struct{})
	held := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- db.Write(ctx, func(tx *Tx) error { close(held); <-release; return nil })
	}()
	<-held
	type res struct {
		seq int64
		err error
	}
	before, failing, after := make(chan res, 1), make(chan error, 1), make(chan res, 1)
	appendTo := func(out chan res) {
		var seq int64
		err := db.Write(ctx, func(tx *Tx) (err error) {
			seq, err = tx.AppendChange("a", "y", "user.created", t0, []byte(`{}`))
			return
		})
		out <- res{seq, err}
	}
	queued := func(n int) {
		deadline := time.Now().Add(10 * time.Second)
		for len(db.jobs) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d writes queued, want %d", len(db.jobs), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	go appendTo(before)
	queued(1)
	go func() { failing <- db.Write(ctx, appendThenFail) }()
	queued(2)
	go appendTo(after)
	queued(3)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	b, a := <-before, <-after
	if b.err != nil || a.err != nil {
		t.Fatalf("writes beside the failing one: %v, %v", b.err, a.err)
	}
	if err := <-failing; !errors.Is(err, errFail) {
		t.Fatalf("the failing write returned %v", err)
	}
	if b.seq != 3 || a.seq != 4 {
		t.Fatalf("seqs %d and %d beside the rolled-back write, want 3 and 4", b.seq, a.seq)
	}
	if got := appendOne(t, db, "b"); got != 1 {
		t.Fatalf("tenant b: seq %d, want 1 (its appends were all rolled back)", got)
	}
	wantSeqs(t, logSeqs(t, db, "a"), 1, 2, 3, 4)
}

// TestUpgradeChangeLogTo0011 opens a database at version 8, whose change
// log is a WITHOUT ROWID table, with this roster: migration 0011 moves the
// log to a rowid table with every record, seq and cut unchanged, and the
// log goes on from where it was.
func TestUpgradeChangeLogTo0011(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roster.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := raw.Exec(query, args...); err != nil {
			t.Fatalf("%.60s: %v", query, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied INTEGER NOT NULL) STRICT`)
	for _, m := range ms[:8] {
		exec(m.sql)
		exec(`INSERT INTO schema_migrations(version, name, applied) VALUES (?, ?, 0)`, m.version, m.name)
	}
	exec(`INSERT INTO tenants(id, name, created) VALUES ('t1', 'T1', 0), ('t2', 'T2', 0)`)
	exec(`INSERT INTO change_cuts(tenant_id, pruned_through) VALUES ('t1', 4)`)
	type row struct {
		tenant string
		seq    int64
		id     string
		at     int64
		typ    string
		rec    string
	}
	old := []row{
		{"t1", 5, "c5", 50, "user.created", `{"id":"c5","data":{"userName":"a@example.com"}}`},
		{"t1", 6, "c6", 60, "user.updated", `{"id":"c6"}`},
		{"t1", 7, "c7", 70, "user.deleted", `{"id":"c7"}`},
		{"t2", 1, "d1", 10, "group.created", `{"id":"d1"}`},
	}
	for _, r := range old {
		exec(`INSERT INTO changes(tenant_id, seq, id, at, type, record) VALUES (?, ?, ?, ?, ?, ?)`, r.tenant, r.seq, r.id, r.at, r.typ, r.rec)
	}
	raw.Close()

	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("Open a version-8 database: %v", err)
	}
	defer db.Close()
	mustRead(t, db, func(tx *Tx) error {
		var withoutRowid int
		if err := tx.queryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'changes' AND sql LIKE '%WITHOUT ROWID%'`).Scan(&withoutRowid); err != nil {
			return err
		}
		if withoutRowid != 0 {
			t.Error("changes is still a WITHOUT ROWID table")
		}
		for _, tenant := range []string{"t1", "t2"} {
			cs, err := tx.Changes(tenant, 0, 100, nil)
			if err != nil {
				return err
			}
			var got []row
			for _, c := range cs {
				got = append(got, row{tenant, c.Seq, c.ID, nanos(c.At), c.Type, string(c.Record)})
			}
			var want []row
			for _, r := range old {
				if r.tenant == tenant {
					want = append(want, r)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("tenant %s after the upgrade: %+v, want %+v", tenant, got, want)
			}
		}
		last, pruned, err := tx.ChangeHead("t1")
		if err != nil {
			return err
		}
		if last != 7 || pruned != 4 {
			t.Errorf("ChangeHead(t1) = %d, %d; want 7, 4", last, pruned)
		}
		return nil
	})
	if got := appendOne(t, db, "t1"); got != 8 {
		t.Errorf("the first append after the upgrade got seq %d, want 8", got)
	}
	err = db.Write(ctx, func(tx *Tx) error {
		_, err := tx.exec(`INSERT INTO changes(tenant_id, seq, id, at, type, record) VALUES ('t2', 1, 'dup', 0, 'user.created', '{}')`)
		return err
	})
	if !errors.Is(err, ErrConflict) {
		t.Errorf("a second row with (t2, 1): %v, want ErrConflict", err)
	}
	mustWrite(t, db, func(tx *Tx) error { return tx.DeleteTenant("t2") })
	mustRead(t, db, func(tx *Tx) error {
		var n int
		if err := tx.queryRow(`SELECT count(*) FROM changes WHERE tenant_id = 't2'`).Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			t.Errorf("deleting tenant t2 left %d of its changes", n)
		}
		return nil
	})
}
