package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// The change log (migration 0006, docs/change-feed.md): one row per committed
// write to a user or group, appended inside that write's transaction.
//
// Ordering. Seq is taken from the tenant's row of change_heads inside the
// write transaction. Every write runs on the store's one writer connection
// (see Write): transactions never overlap, so the seqs of a tenant are handed
// out in commit order. A reader's snapshot therefore holds, for each tenant,
// a prefix 1..n of the seqs ever committed: no reader can see seq n+1
// without seq n, and a seq seen once is never followed later by a smaller
// one. A failed write rolls back to its savepoint, seq and all, so no seq is
// left as a hole either. Seqs are never reused: change_heads keeps the last
// one even after pruning has emptied the log.

// Change is one stored record of the change log.
type Change struct {
	TenantID string
	Seq      int64
	ID       string
	At       time.Time
	Type     string
	// Record is the record as JSON, as the encoder given to AppendChange
	// wrote it.
	Record []byte
}

// AppendChange appends a change to the tenant's log and returns its seq.
// encode receives the seq and returns the record's JSON. With
// Options.NoChangeLog it appends nothing and returns 0. It must run in a
// write transaction.
func (t *Tx) AppendChange(tenantID, id, typ string, at time.Time, encode func(seq int64) ([]byte, error)) (int64, error) {
	if t.db == nil {
		return 0, errors.New("append change: not in a write transaction")
	}
	if t.db.noLog {
		return 0, nil
	}
	var seq int64
	err := t.queryRow(`INSERT INTO change_heads(tenant_id, last_seq) VALUES (?, 1)
		ON CONFLICT(tenant_id) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq`, tenantID).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("append change: next seq: %w", err)
	}
	rec, err := encode(seq)
	if err != nil {
		return 0, fmt.Errorf("append change: %w", err)
	}
	if _, err := t.exec(`INSERT INTO changes(tenant_id, seq, id, at, type, record) VALUES (?, ?, ?, ?, ?, ?)`,
		tenantID, seq, id, nanos(at), typ, string(rec)); err != nil {
		return 0, fmt.Errorf("append change: %w", err)
	}
	t.appended = true
	return seq, nil
}

// ChangeHead returns the last seq handed out in a tenant's log and the
// highest seq pruned from it (0 and 0 for a tenant without changes).
func (t *Tx) ChangeHead(tenantID string) (last, prunedThrough int64, err error) {
	err = t.queryRow(`SELECT last_seq, pruned_through FROM change_heads WHERE tenant_id = ?`, tenantID).Scan(&last, &prunedThrough)
	if isNoRows(err) {
		return 0, 0, nil
	}
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
// changes up to the newest one recorded before before go, later ones stay,
// and change_heads remembers the cut so that a reader asking for what is gone
// can be told.
func (t *Tx) PruneChanges(before time.Time) (int64, error) {
	if _, err := t.exec(`UPDATE change_heads SET pruned_through = max(pruned_through,
		COALESCE((SELECT max(seq) FROM changes c WHERE c.tenant_id = change_heads.tenant_id AND c.at < ?), 0))`, nanos(before)); err != nil {
		return 0, fmt.Errorf("prune changes: %w", err)
	}
	res, err := t.exec(`DELETE FROM changes WHERE seq <= (SELECT pruned_through FROM change_heads h WHERE h.tenant_id = changes.tenant_id)`)
	if err != nil {
		return 0, fmt.Errorf("prune changes: %w", err)
	}
	return res.RowsAffected()
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
// after its COMMIT; writes by another process on the same file are noticed
// by a poller that reads the sum of every tenant's last seq once per
// pollInterval, and runs only while someone waits.

// pollInterval is how often a waiter notices changes committed by another
// process.
const pollInterval = 500 * time.Millisecond

type changeNotifier struct {
	mu      sync.Mutex
	ch      chan struct{}
	waiters int
	polling bool
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
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var seen int64 = -1
	for {
		var sum int64
		err := db.ReadLatest(context.Background(), func(tx *Tx) error {
			return tx.queryRow(`SELECT COALESCE(sum(last_seq), 0) FROM change_heads`).Scan(&sum)
		})
		if err == nil && seen >= 0 && sum != seen {
			db.notify.wake()
		}
		if err == nil {
			seen = sum
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
