package store

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Named locks with an expiry: a row in the locks table held by one owner
// until it expires. Its holder keeps moving the expiry forward, so the lock
// of an agent that died (kill -9, a lost machine) expires on its own and
// another agent takes it over. They serve certmagic's locks
// (agent/tlsserve/dbstorage) and the agent's background work, which several
// agents on one database must run once (docs/postgresql.md). The statements
// are plain SQL that SQLite and PostgreSQL both run.
//
// Rows rather than PostgreSQL's advisory locks: an advisory lock lives as
// long as the session that took it, so every lock would pin a connection of
// its own for as long as it is held (one per webhook endpoint), and a
// connection that a proxy keeps open after its agent hung would keep the
// lock forever. A row works the same on SQLite, where one agent holds every
// lock and extending them costs one small write per lock every TTL/3.

// AcquireLock takes the lock name for owner until expires, and reports
// whether it did: it is free, or its holder let it expire (its expiry is
// not after now). Taking a free or expired lock is one statement, so two
// agents racing for it cannot both win.
func (t *Tx) AcquireLock(name, owner string, now, expires time.Time) (bool, error) {
	res, err := t.exec(`INSERT INTO locks(name, owner, expires) VALUES (?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
		WHERE locks.expires <= ?`, name, owner, nanos(expires), nanos(now))
	if err != nil {
		return false, fmt.Errorf("acquire lock %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("acquire lock %s: %w", name, err)
	}
	return n == 1, nil
}

// ExtendLock moves the expiry of the lock name to expires if owner still
// holds it, and reports whether it does.
func (t *Tx) ExtendLock(name, owner string, expires time.Time) (bool, error) {
	res, err := t.exec(`UPDATE locks SET expires = ? WHERE name = ? AND owner = ?`, nanos(expires), name, owner)
	if err != nil {
		return false, fmt.Errorf("extend lock %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("extend lock %s: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLock frees the lock name if owner holds it, and reports whether it
// did; the lock of another owner is left alone.
func (t *Tx) ReleaseLock(name, owner string) (bool, error) {
	res, err := t.exec(`DELETE FROM locks WHERE name = ? AND owner = ?`, name, owner)
	if err != nil {
		return false, fmt.Errorf("release lock %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("release lock %s: %w", name, err)
	}
	return n == 1, nil
}

// Lock returns the holder of the lock name and its expiry, or ErrNotFound
// when nobody holds it (an expired lock may still be listed).
func (t *Tx) Lock(name string) (owner string, expires time.Time, err error) {
	var exp int64
	err = t.queryRow(`SELECT owner, expires FROM locks WHERE name = ?`, name).Scan(&owner, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, fmt.Errorf("lock %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("read lock %s: %w", name, err)
	}
	return owner, fromNanos(exp), nil
}

// DefaultLeaseTTL is how long a lease outlives its holder's last extension
// when LeaseOptions.TTL is 0.
const DefaultLeaseTTL = 30 * time.Second

// LeaseOptions tunes TryLease.
type LeaseOptions struct {
	// TTL is how long the lease outlives its holder's last extension, and
	// so how long a dead agent's lease blocks the others; 0 means
	// DefaultLeaseTTL. The holder extends it every Every.
	TTL time.Duration
	// Now is the clock; nil means time.Now. As with any lease, the agents'
	// clocks must agree to well within TTL.
	Now func() time.Time
	// Every is how often the holder extends the lease; 0 means TTL/3.
	Every time.Duration
}

// Lease is a named lock this DB holds, extended in the background every
// LeaseOptions.Every until Release. Lost is closed when the lease may have passed to
// another holder: an extension found it taken over, none succeeded for a
// whole TTL (the database was unreachable), or the DB closed. Work done
// under the lease stops then.
type Lease struct {
	db    *DB
	name  string
	owner string
	ttl   time.Duration
	every time.Duration
	now   func() time.Time

	lost     chan struct{}
	lostOnce sync.Once
	stop     context.CancelFunc
	done     chan struct{}
	release  sync.Once
	err      error
}

// TryLease takes the lease name if it is free or expired, and returns it;
// it returns nil (and no error) while another holder has it.
func (db *DB) TryLease(ctx context.Context, name string, opt LeaseOptions) (*Lease, error) {
	if opt.TTL <= 0 {
		opt.TTL = DefaultLeaseTTL
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Every <= 0 {
		opt.Every = opt.TTL / 3
	}
	b := make([]byte, 12)
	crand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	l := &Lease{db: db, name: name, owner: hex.EncodeToString(b), ttl: opt.TTL, every: opt.Every, now: opt.Now,
		lost: make(chan struct{}), done: make(chan struct{})}
	var ok bool
	asked := time.Now()
	err := db.Write(ctx, func(tx *Tx) (err error) {
		now := l.now()
		ok, err = tx.AcquireLock(name, l.owner, now, now.Add(l.ttl))
		return err
	})
	if err != nil || !ok {
		return nil, err
	}
	rctx, stop := context.WithCancel(context.Background())
	l.stop = stop
	go l.extend(rctx, asked)
	return l, nil
}

// Name returns the lease's name.
func (l *Lease) Name() string { return l.name }

// Lost returns a channel closed once the lease may be held by another.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

func (l *Lease) lose() { l.lostOnce.Do(func() { close(l.lost) }) }

// extend moves the expiry forward every l.every until stopped or lost.
// last is when the write that last set the expiry was asked for: the
// lease is certainly this holder's for TTL from then, measured on this
// machine's monotonic clock (a step of the wall clock does not move it).
func (l *Lease) extend(ctx context.Context, last time.Time) {
	defer close(l.done)
	t := time.NewTicker(l.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		type result struct {
			ok  bool
			err error
		}
		res := make(chan result, 1)
		asked := time.Now()
		go func() {
			var r result
			r.err = l.db.Write(ctx, func(tx *Tx) (err error) {
				r.ok, err = tx.ExtendLock(l.name, l.owner, l.now().Add(l.ttl))
				return err
			})
			res <- r
		}()
		// A write can hang while the database is unreachable: the lease is
		// this holder's until its expiry, after which another may have
		// taken it.
		expiry := time.NewTimer(l.ttl - time.Since(last))
		var r result
		select {
		case r = <-res:
			expiry.Stop()
		case <-expiry.C:
			l.lose()
			return
		}
		switch {
		case ctx.Err() != nil:
			return // released
		case r.err == nil && r.ok:
			last = asked
		case r.err == nil || errors.Is(r.err, ErrClosed):
			l.lose() // taken over, or the store is closing
			return
		case time.Since(last) >= l.ttl:
			l.lose() // the database did not answer until the expiry
			return
		}
	}
}

// Release stops extending the lease and frees it, so that another holder
// may take it at once. It reports an error when the lease was lost
// meanwhile (another holder has it now) or could not be freed (it then
// expires on its own). Only the first call does anything.
func (l *Lease) Release() error {
	l.release.Do(func() {
		l.stop()
		<-l.done
		var ok bool
		// Free it even when the holder's context has ended, or the lease
		// would block every other agent until it expires.
		err := l.db.Write(context.Background(), func(tx *Tx) (err error) {
			ok, err = tx.ReleaseLock(l.name, l.owner)
			return err
		})
		switch {
		case err != nil:
			l.err = err
		case !ok:
			l.err = fmt.Errorf("release lock %s: it expired and another holder has it now", l.name)
		}
		l.lose()
	})
	return l.err
}
