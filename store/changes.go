package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// The change log (migrations 0008 and 0011, docs/change-feed.md): one row
// per committed write to a user or group, appended inside that write's
// transaction.
//
// Ordering. Seq is computed inside the write transaction, as one more than
// the tenant's newest seq. Every write runs on the store's one writer
// connection (see Write): transactions never overlap, so the seqs of a
// tenant are handed out in commit order. A reader's snapshot therefore
// holds, for each tenant, a prefix of the seqs ever committed: no reader can
// see seq n+1 without seq n, and a seq seen once is never followed later by
// a smaller one. A failed write rolls back to its savepoint, its change
// with it, so no seq is left as a hole either. Seqs are never reused:
// change_cuts keeps the highest seq pruned, from which the numbering goes
// on when pruning has emptied the log.
//
// The newest seq of each tenant is read from the log once and then kept by
// the writer (changeHeads), so that an append is a plain INSERT: finding
// the head with a subquery and returning the seq doubled what an append
// cost. What the writer keeps always equals what the log holds in the open
// transaction: a write rolled back to its savepoint forgets the heads it
// moved, a transaction rolled back forgets them all, deleting a tenant
// forgets its head, and a commit by any other connection to the file
// (another process's writer, seen by PRAGMA data_version) forgets them all
// before the next append. A forgotten head is read from the log again. The
// unique (tenant_id, seq) index is the backstop: a seq handed out twice
// would fail the write, never be stored twice.

// Change is one stored record of the change log.
type Change struct {
	TenantID string
	Seq      int64
	ID       string
	At       time.Time
	Type     string
	// Record is the record as JSON, as given to AppendChange.
	Record []byte
}

// LogsChanges reports whether AppendChange appends in this write (false
// with Options.NoChangeLog, and outside a write): callers need not build a
// record it would drop.
func (t *Tx) LogsChanges() bool { return t.db != nil && !t.db.noLog }

// AppendChange appends a change to the tenant's log and returns its seq;
// record is its JSON (without the seq, which readers get from Change.Seq).
// With Options.NoChangeLog it appends nothing and returns 0. It must run in
// a write transaction.
func (t *Tx) AppendChange(tenantID, id, typ string, at time.Time, record []byte) (int64, error) {
	if t.db == nil {
		return 0, errors.New("append change: not in a write transaction")
	}
	if t.db.noLog {
		return 0, nil
	}
	if t.c.d.postgres {
		// Several agents may write one PostgreSQL database: the head is
		// worked out in the database (changes_postgres.go), never cached.
		seq, err := t.appendChangePostgres(tenantID, id, typ, at, record)
		t.appended = t.appended || err == nil
		return seq, err
	}
	last, err := t.changeHead(tenantID)
	if err != nil {
		return 0, fmt.Errorf("append change: %w", err)
	}
	seq := last + 1
	if _, err := t.exec(`INSERT INTO changes(tenant_id, seq, id, at, type, record) VALUES (?, ?, ?, ?, ?, ?)`,
		tenantID, seq, id, nanos(at), typ, string(record)); err != nil {
		return 0, fmt.Errorf("append change: %w", err)
	}
	t.db.heads.moved(t, tenantID, seq)
	t.appended = true
	return seq, nil
}

// changeHeads is the newest seq of each tenant's log as the writer's open
// transaction sees it, for the tenants appended to since it was last
// forgotten (see the top of this file). Only the writer goroutine uses it.
type changeHeads struct {
	seqs map[string]int64
	// checked: data_version was compared in the open transaction.
	checked     bool
	dataVersion int64
}

// begin is called after each BEGIN of the writer.
func (h *changeHeads) begin() { h.checked = false }

// forgetAll is called when the writer's transaction rolls back.
func (h *changeHeads) forgetAll() { clear(h.seqs) }

// forget drops one tenant's head (its log was removed or rolled back).
func (h *changeHeads) forget(tenantID string) { delete(h.seqs, tenantID) }

// moved records a write's append: t's savepoint rolling back forgets it.
func (h *changeHeads) moved(t *Tx, tenantID string, seq int64) {
	if h.seqs == nil {
		h.seqs = map[string]int64{}
	}
	h.seqs[tenantID] = seq
	if !slices.Contains(t.moved, tenantID) {
		t.moved = append(t.moved, tenantID)
	}
}

// rolledBack is called when t's savepoint rolled back.
func (h *changeHeads) rolledBack(t *Tx) {
	for _, id := range t.moved {
		h.forget(id)
	}
	t.moved = nil
}

// changeHead returns the newest seq of the tenant's log (or the cut it goes
// on from) in a write transaction, from the writer's heads when it holds
// the tenant's.
func (t *Tx) changeHead(tenantID string) (int64, error) {
	h := &t.db.heads
	if !h.checked {
		// PRAGMA data_version changes when another connection commits
		// (https://www.sqlite.org/pragma.html#pragma_data_version); this
		// one's own commits leave it as it is.
		var v int64
		if err := t.queryRow(`PRAGMA data_version`).Scan(&v); err != nil {
			return 0, fmt.Errorf("data version: %w", err)
		}
		if v != h.dataVersion {
			h.forgetAll()
			h.dataVersion = v
		}
		h.checked = true
	}
	if last, ok := h.seqs[tenantID]; ok {
		return last, nil
	}
	last, _, err := t.ChangeHead(tenantID)
	return last, err
}

// ChangeHead returns the last seq handed out in a tenant's log and the
// highest seq pruned from it (0 and 0 for a tenant without changes).
func (t *Tx) ChangeHead(tenantID string) (last, prunedThrough int64, err error) {
	err = t.queryRow(`SELECT COALESCE((SELECT max(seq) FROM changes WHERE tenant_id = ?1), (SELECT pruned_through FROM change_cuts WHERE tenant_id = ?1), 0),
		COALESCE((SELECT pruned_through FROM change_cuts WHERE tenant_id = ?1), 0)`, tenantID).Scan(&last, &prunedThrough)
	if err != nil {
		return 0, 0, fmt.Errorf("change head of %s: %w", tenantID, err)
	}
	return last, prunedThrough, nil
}

// Changes returns up to limit changes of the tenant with seq > after, in seq
// order; types, when not empty, selects the change types returned.
func (t *Tx) Changes(tenantID string, after int64, limit int, types []string) ([]Change, error) {
	q := `SELECT seq, id, at, type, record FROM changes WHERE tenant_id = ? AND seq > ?`
	args := []any{tenantID, after}
	if len(types) > 0 {
		q += ` AND type IN (?` + strings.Repeat(", ?", len(types)-1) + `)`
		for _, ty := range types {
			args = append(args, ty)
		}
	}
	q += ` ORDER BY seq LIMIT ?`
	args = append(args, limit)
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("read changes: %w", err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		c := Change{TenantID: tenantID}
		var at int64
		var rec string
		if err := rows.Scan(&c.Seq, &c.ID, &at, &c.Type, &rec); err != nil {
			return nil, fmt.Errorf("read changes: %w", err)
		}
		c.At, c.Record = fromNanos(at), []byte(rec)
		out = append(out, c)
	}
	return out, rows.Err()
}

// PruneChanges deletes the changes recorded before before, in every tenant,
// and returns how many it deleted. Each tenant's log is cut at a seq: the
// changes before the oldest one recorded at or after before go, that one
// and later ones stay, and change_cuts remembers the cut so that a reader
// asking for what is gone can be told. Finding the cut reads only the rows
// it deletes (plus one), in primary-key order.
func (t *Tx) PruneChanges(before time.Time) (int64, error) {
	rows, err := t.query(`SELECT id FROM tenants`)
	if err != nil {
		return 0, fmt.Errorf("prune changes: %w", err)
	}
	var tenants []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("prune changes: %w", err)
		}
		tenants = append(tenants, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("prune changes: %w", err)
	}
	var deleted int64
	for _, id := range tenants {
		last, pruned, err := t.ChangeHead(id)
		if err != nil {
			return deleted, err
		}
		cut := last
		var kept int64
		err = t.queryRow(`SELECT seq FROM changes WHERE tenant_id = ? AND at >= ? ORDER BY seq LIMIT 1`, id, nanos(before)).Scan(&kept)
		switch {
		case err == nil:
			cut = kept - 1
		case !isNoRows(err):
			return deleted, fmt.Errorf("prune changes of %s: %w", id, err)
		}
		if cut <= pruned {
			continue
		}
		res, err := t.exec(`DELETE FROM changes WHERE tenant_id = ? AND seq <= ?`, id, cut)
		if err != nil {
			return deleted, fmt.Errorf("prune changes of %s: %w", id, err)
		}
		n, _ := res.RowsAffected()
		deleted += n
		if _, err := t.exec(`INSERT INTO change_cuts(tenant_id, pruned_through) VALUES (?, ?)
			ON CONFLICT(tenant_id) DO UPDATE SET pruned_through = excluded.pruned_through`, id, cut); err != nil {
			return deleted, fmt.Errorf("prune changes of %s: %w", id, err)
		}
	}
	return deleted, nil
}

// MemberDelta is the net change to one group's members made by a write: ids
// added and ids removed, an id added then removed again (or the reverse)
// being in neither.
type MemberDelta struct {
	added, removed map[string]bool
}

// Added returns the ids added, sorted.
func (d *MemberDelta) Added() []string { return d.sorted(true) }

// Removed returns the ids removed, sorted.
func (d *MemberDelta) Removed() []string { return d.sorted(false) }

// Empty reports whether the members did not change.
func (d *MemberDelta) Empty() bool { return d == nil || len(d.added)+len(d.removed) == 0 }

func (d *MemberDelta) sorted(added bool) []string {
	if d == nil {
		return nil
	}
	m := d.removed
	if added {
		m = d.added
	}
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// MemberChanges returns the net change to group members made so far in this write
// (nil in a read, or when no member row changed).
func (t *Tx) MemberChanges() *MemberDelta { return t.delta }

func (t *Tx) memberAdded(id string) { t.noteMember(id, true) }

func (t *Tx) memberRemoved(id string) { t.noteMember(id, false) }

// noteMember records that a write added (or removed) a member row; undoing
// an earlier note of the same write cancels it.
func (t *Tx) noteMember(id string, added bool) {
	if t.db == nil {
		return
	}
	if t.delta == nil {
		t.delta = &MemberDelta{added: map[string]bool{}, removed: map[string]bool{}}
	}
	this, other := t.delta.added, t.delta.removed
	if !added {
		this, other = other, this
	}
	if other[id] {
		delete(other, id)
		return
	}
	this[id] = true
}

// removeAllTracked is RemoveAllMembers in a write: it notes the removed ids.
func (t *Tx) removeAllTracked(groupSeq int64) (int, error) {
	rows, err := t.query(`DELETE FROM members WHERE group_seq = ? RETURNING member_id`, groupSeq)
	if err != nil {
		return 0, fmt.Errorf("remove all members: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("remove all members: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("remove all members: %w", err)
	}
	for _, id := range ids {
		t.memberRemoved(id)
	}
	return len(ids), nil
}

// Waiting for changes. A write that appended a change wakes every waiter
// of its DB after its COMMIT. Changes committed by another process are
// noticed:
//   - on PostgreSQL, through LISTEN/NOTIFY: such a write runs
//     notifyChanges in its transaction, which the server delivers at COMMIT
//     to every session listening on the channel; each DB with waiters keeps
//     one connection of its own listening (listenChanges), outside the pool;
//   - on SQLite, and on PostgreSQL while that connection is down, by a
//     poller that reads the sum of every tenant's last seq once per
//     Options.PollInterval, and runs only while someone waits.

// pollInterval is the default Options.PollInterval.
const pollInterval = 500 * time.Millisecond

// changesChannel is the PostgreSQL notification channel of the change log.
const changesChannel = "roster_changes"

// notifyChanges is run by a PostgreSQL write that appended changes; the
// server sends one notification per transaction however many it appended.
const notifyChanges = "SELECT pg_notify('" + changesChannel + "', '')"

type changeNotifier struct {
	mu         sync.Mutex
	ch         chan struct{}
	waiters    int
	polling    bool
	listening  bool          // a connection LISTENs: the poller need not read
	listenDone chan struct{} // non-nil once listenChanges started; closed when it ends
	notes      atomic.Int64  // notifications received (tests look)
	listens    atomic.Int64  // times the listening connection came up (tests look)
}

// setListening records whether the listening connection is up, and wakes
// the waiters: when it comes up, a change may have committed before LISTEN
// took effect; when it goes down, the poller takes over.
func (n *changeNotifier) setListening(on bool) {
	n.mu.Lock()
	n.listening = on
	n.mu.Unlock()
	n.wake()
}

// isListening reports whether the listening connection is up.
func (n *changeNotifier) isListening() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.listening
}

// signal returns the channel closed by the next wake.
func (n *changeNotifier) signal() chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *changeNotifier) wake() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

// WaitChange returns once the tenant's log holds a change with seq > after
// (at once if it does already), or with ctx's error when ctx ends first.
func (db *DB) WaitChange(ctx context.Context, tenantID string, after int64) error {
	db.notify.mu.Lock()
	db.notify.waiters++
	if !db.notify.polling {
		db.notify.polling = true
		go db.pollChanges()
	}
	if db.d.postgres && db.notify.listenDone == nil {
		select {
		case <-db.quit: // Close does not wait for a listener started now
		default:
			db.notify.listenDone = make(chan struct{})
			go db.listenChanges()
		}
	}
	db.notify.mu.Unlock()
	defer func() {
		db.notify.mu.Lock()
		db.notify.waiters--
		db.notify.mu.Unlock()
	}()
	for {
		// Take the signal before reading, so that a commit between the read
		// and the wait still wakes this waiter.
		sig := db.notify.signal()
		var last int64
		err := db.ReadLatest(ctx, func(tx *Tx) (err error) { last, _, err = tx.ChangeHead(tenantID); return })
		if err != nil {
			return err
		}
		if last > after {
			return nil
		}
		select {
		case <-sig:
		case <-ctx.Done():
			return ctx.Err()
		case <-db.quit:
			return ErrClosed
		}
	}
}

// pollChanges wakes the waiters when the log grew in another process; it
// returns when nobody waits any more.
func (db *DB) pollChanges() {
	t := time.NewTicker(db.pollEvery)
	defer t.Stop()
	var seen int64 = -1
	for {
		if db.notify.isListening() {
			// Notifications wake the waiters. Should the listener fail,
			// the next poll wakes them anyway (seen starts over).
			seen = -1
		} else {
			var sum int64
			err := db.ReadLatest(context.Background(), func(tx *Tx) error {
				return tx.queryRow(`SELECT COALESCE(sum((SELECT max(seq) FROM changes c WHERE c.tenant_id = t.id)), 0) FROM tenants t`).Scan(&sum)
			})
			// The first poll always wakes the waiters: a write by another
			// process may have landed between a waiter's read and this
			// baseline, and a waiter woken for nothing only reads again.
			if err == nil && sum != seen {
				db.notify.wake()
			}
			if err == nil {
				seen = sum
			}
		}
		select {
		case <-t.C:
		case <-db.quit:
			db.notify.mu.Lock()
			db.notify.polling = false
			db.notify.mu.Unlock()
			return
		}
		db.notify.mu.Lock()
		if db.notify.waiters == 0 {
			db.notify.polling = false
			db.notify.mu.Unlock()
			return
		}
		db.notify.mu.Unlock()
	}
}

// listenChanges keeps a PostgreSQL connection listening on changesChannel
// until the DB closes, and wakes the waiters at each notification. It
// connects again (after a growing pause, at most 5 s) when the connection
// fails; meanwhile the poller notices changes.
func (db *DB) listenChanges() {
	defer close(db.notify.listenDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-db.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	pause := 100 * time.Millisecond
	for {
		up, _ := db.listen(ctx)
		db.notify.setListening(false)
		if up {
			pause = 100 * time.Millisecond
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// listen runs one listening connection until it fails or ctx ends; up
// reports whether it got as far as listening.
func (db *DB) listen(ctx context.Context) (up bool, err error) {
	c, err := pgx.Connect(ctx, db.dsn)
	if err != nil {
		return false, err
	}
	defer c.Close(context.Background()) //nolint:errcheck
	if _, err := c.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return false, err
	}
	db.notify.listens.Add(1)
	db.notify.setListening(true)
	for {
		if _, err := c.WaitForNotification(ctx); err != nil {
			return true, err
		}
		db.notify.notes.Add(1)
		db.notify.wake()
	}
}
