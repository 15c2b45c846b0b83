// Package store is Roster's SQLite persistence (modernc.org/sqlite, pure Go).
//
// One writer connection runs every write; writes that arrive while a
// transaction is open are batched into the next one (group commit), each inside
// its own SAVEPOINT so that one failing write never affects another. Reads use a
// separate pool of query-only connections and see a consistent snapshot (WAL).
// A write is acknowledged only after its COMMIT returned with synchronous=FULL,
// so no acknowledged write is lost if the process — or the machine — dies.
//
// Measured on a 2-core machine (docs/architecture.md#storage): a pool of writers with busy_timeout
// gives the same throughput as one writer but 1–5 s latency spikes and
// SQLITE_BUSY errors; group commit reaches ~11k writes/s even at FULL.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Sentinel errors returned by the store; callers test them with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	ErrClosed   = errors.New("store closed")
	// ErrVersionMismatch: the resource changed since the version the caller read (If-Match).
	ErrVersionMismatch = errors.New("version mismatch")
	// ErrNoDatabase: Options.MustExist was set and there is no database file.
	ErrNoDatabase = errors.New("no database file")
	// ErrFull: SQLite could not write because the disk holding the database
	// is full (SQLITE_FULL, ENOSPC) or the database reached Options.MaxSize.
	ErrFull = errors.New("the disk holding the database is full: free some space on it, then try again")
	// ErrReadOnly: the database cannot be written (SQLITE_READONLY): a
	// read-only file, directory or file system.
	ErrReadOnly = errors.New("the database is read-only: make the data directory and its files writable by the agent's user, on a file system mounted read-write")
)

// Options tunes Open.
type Options struct {
	// Readers is the size of the read pool; 0 means max(4, GOMAXPROCS).
	Readers int
	// Log hears what the store does on its own (on PostgreSQL, updating
	// the planner's statistics); nil: slog.Default().
	Log *slog.Logger
	// MaxBatch bounds how many queued writes share one transaction; 0 means 256.
	MaxBatch int
	// Synchronous is the SQLite synchronous pragma for the writer: "FULL"
	// (default, survives power loss) or "NORMAL" (survives a process crash).
	Synchronous string
	// MmapSize is SQLite's mmap_size in bytes (0: no memory-mapped I/O, the
	// default). Mapped pages of the file count towards the process's resident
	// memory; without mmap, reads go through a small page cache per connection
	// and the operating system's file cache.
	MmapSize int64
	// MustExist makes Open fail with ErrNoDatabase, creating nothing, when
	// the file does not exist: commands that only read use it, so that a
	// mistyped path is an error rather than a new empty store.
	MustExist bool
	// MaxSize bounds the database's size in bytes (SQLite's max_page_count);
	// a write that would grow it further fails with ErrFull, as on a full
	// disk. 0: no bound.
	MaxSize int64
	// Exclusive makes this the only DB opened with Exclusive on the file,
	// for the agent: Open takes a lock next to the database (path + ".lock",
	// holding the process id) until Close, and fails with *LockedError while
	// another process holds it. Opens without Exclusive (the CLI's commands,
	// reads and writes alike) are not affected.
	Exclusive bool
	// NoChangeLog stops writes from appending to the change log (see
	// Tx.AppendChange). Only the benchmark sets it, to measure what the log
	// costs; it is not a user-facing setting.
	NoChangeLog bool
	// PollInterval is how often WaitChange looks for changes committed by
	// another process when nothing tells it of them: on SQLite (another
	// `roster` command on the file), and on PostgreSQL while its listening
	// connection is down (changes.go). 0 means 500 ms.
	PollInterval time.Duration
}

// DB is an open store.
type DB struct {
	path    string
	d       *dialect
	pool    *sql.DB // owns the connections below
	writer  *conn   // the only connection that writes
	readers chan *conn
	nread   int
	jobs    chan *job
	quit    chan struct{}
	done    chan struct{}
	max     int
	once    sync.Once
	lock    *os.File // with Options.Exclusive

	writeMu   sync.Mutex
	writeErr  error        // the last ErrFull or ErrReadOnly, until a write succeeds
	closing   sync.RWMutex // guards queuing jobs against Close
	closeErr  error
	noLog     bool
	notify    changeNotifier
	pollEvery time.Duration
	dsn       string      // PostgreSQL: the URL as given, for the listening connection
	heads     changeHeads // the writer's
	log       *slog.Logger
	statsDone chan struct{} // closed when keepStats returns; nil on SQLite
}

// conn is one SQLite connection held for the life of the DB, with its own
// cache of prepared statements. Transactions are plain BEGIN/COMMIT statements
// on it, so statements prepared once are reused by every later transaction.
type conn struct {
	c     *sql.Conn
	d     *dialect
	stmts map[string]*sql.Stmt
}

// run executes a transaction-control statement, prepared once per connection:
// every request runs two of them, and parsing them each time costs more than
// running them.
func (c *conn) run(ctx context.Context, query string) error {
	s, ok := c.stmts[query]
	if !ok {
		var err error
		if s, err = c.c.PrepareContext(ctx, c.d.sql(query)); err != nil {
			return err
		}
		c.stmts[query] = s
	}
	_, err := s.ExecContext(ctx)
	return err
}

type job struct {
	ctx  context.Context
	fn   func(*Tx) error
	done chan error
}

// Open opens (creating if needed, unless opt.MustExist) the database file at
// path, applies pending migrations and starts the writer. A path that is a
// postgres:// (or postgresql://) URL opens that PostgreSQL database instead
// (see dialect.go); its schema is created if missing unless opt.MustExist.
func Open(ctx context.Context, path string, opt Options) (*DB, error) {
	if opt.Readers <= 0 {
		opt.Readers = max(4, runtime.GOMAXPROCS(0))
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 256
	}
	if opt.MmapSize < 0 {
		return nil, fmt.Errorf("open store: mmap size must not be negative")
	}
	switch opt.Synchronous {
	case "":
		opt.Synchronous = "FULL"
	case "FULL", "NORMAL":
	default:
		return nil, fmt.Errorf("open store: synchronous must be FULL or NORMAL, not %q", opt.Synchronous)
	}
	d := sqliteDialect
	if IsPostgresURL(path) {
		d = postgresDialect
	}
	if opt.MustExist && !d.postgres {
		if fi, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("open store %s: %w", path, ErrNoDatabase)
		} else if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		} else if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("open store %s: not a regular file", path)
		}
	}
	var lk *os.File
	var pool *sql.DB
	var err error
	pgURL := ""
	if d.postgres {
		pool, err = openPostgres(path, opt)
		pgURL, path = path, redactURL(path)
	} else if err = os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	} else if opt.Exclusive {
		if lk, err = lock(path); err != nil {
			return nil, err
		}
	}
	if !d.postgres {
		pool, err = sql.Open("sqlite", dsn(path, []string{
			"busy_timeout(10000)",
			"foreign_keys(1)",
			"journal_mode(WAL)",
			"synchronous(" + opt.Synchronous + ")",
			"temp_store(MEMORY)",
			"mmap_size(" + strconv.FormatInt(opt.MmapSize, 10) + ")",
		}))
	}
	if err != nil {
		unlock(lk) //nolint:errcheck
		return nil, fmt.Errorf("open store: %w", err)
	}
	conns := opt.Readers + 1
	if d.postgres {
		conns++ // keepStats's, for ANALYZE (pgstats.go)
	}
	pool.SetMaxOpenConns(conns)
	pool.SetMaxIdleConns(opt.Readers + 1)
	pool.SetConnMaxLifetime(0)
	pool.SetConnMaxIdleTime(0)
	db := &DB{path: path, d: d, pool: pool, readers: make(chan *conn, opt.Readers), nread: opt.Readers,
		jobs: make(chan *job, 4*opt.MaxBatch), quit: make(chan struct{}), done: make(chan struct{}), max: opt.MaxBatch, lock: lk,
		noLog: opt.NoChangeLog, pollEvery: opt.PollInterval, dsn: pgURL, log: opt.Log}
	if db.log == nil {
		db.log = slog.Default()
	}
	if db.pollEvery <= 0 {
		db.pollEvery = pollInterval
	}
	fail := func(err error) (*DB, error) {
		db.closeConns(len(db.readers))
		unlock(lk) //nolint:errcheck
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	wc, err := pool.Conn(ctx)
	if err != nil {
		return fail(err)
	}
	db.writer = &conn{c: wc, d: d, stmts: map[string]*sql.Stmt{}}
	if opt.MaxSize > 0 {
		var pageSize int64
		if err := wc.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
			return fail(err)
		}
		if _, err := wc.ExecContext(ctx, "PRAGMA max_page_count = "+strconv.FormatInt(max(opt.MaxSize/pageSize, 1), 10)); err != nil {
			return fail(err)
		}
	}
	if err := migrate(ctx, db.writer.c, d, opt.MustExist); err != nil {
		return fail(mapErr(err))
	}
	for i := 0; i < opt.Readers; i++ {
		rc, err := pool.Conn(ctx)
		if err != nil {
			return fail(err)
		}
		if err := d.prepareConn(ctx, rc, true); err != nil {
			return fail(err)
		}
		db.readers <- &conn{c: rc, d: d, stmts: map[string]*sql.Stmt{}}
	}
	go db.writerLoop()
	if d.postgres {
		db.statsDone = make(chan struct{})
		go db.keepStats()
	}
	return db, nil
}

func dsn(path string, pragmas []string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	return "file:" + path + "?" + q.Encode()
}

// Path returns the database file's path; on PostgreSQL, the database's URL
// without its password.
func (db *DB) Path() string { return db.path }

// Close stops the writer after the queued writes and closes every connection.
func (db *DB) Close() error {
	// Taking the write lock waits for every Write that is queuing a job; any
	// later Write sees quit closed. So no job is queued after the writer's
	// final drain.
	db.once.Do(func() {
		db.closing.Lock()
		close(db.quit)
		db.closing.Unlock()
		<-db.done
		if db.statsDone != nil {
			<-db.statsDone
		}
		db.notify.mu.Lock()
		listening := db.notify.listenDone
		db.notify.mu.Unlock()
		if listening != nil {
			<-listening
		}
		db.closeErr = errors.Join(db.closeConns(db.nread), unlock(db.lock))
	})
	return db.closeErr
}

// closeConns closes the writer and n reader connections, waiting for reads in
// progress to give theirs back.
func (db *DB) closeConns(n int) error {
	var errs []error
	closeConn := func(c *conn) {
		for _, s := range c.stmts {
			s.Close()
		}
		errs = append(errs, c.c.Close())
	}
	if db.writer != nil {
		closeConn(db.writer)
		db.writer = nil
	}
	for ; n > 0; n-- {
		closeConn(<-db.readers)
	}
	errs = append(errs, db.pool.Close())
	return errors.Join(errs...)
}

// Write runs fn in a write transaction and returns once it is durably committed
// (or failed). fn may share its transaction with other writes queued at the
// same moment; it runs inside its own savepoint, so its error rolls back only
// its own changes. fn must not call Write or Read itself.
func (db *DB) Write(ctx context.Context, fn func(*Tx) error) error {
	j := &job{ctx: ctx, fn: fn, done: make(chan error, 1)}
	db.closing.RLock()
	select {
	case <-db.quit:
		db.closing.RUnlock()
		return ErrClosed
	default:
	}
	select {
	case db.jobs <- j:
		db.closing.RUnlock()
	case <-ctx.Done():
		db.closing.RUnlock()
		return ctx.Err()
	}
	// Once queued, wait for the outcome even if ctx ends: the write may commit,
	// and the caller must not report failure for a write that happened.
	return <-j.done
}

// Read runs fn in a read-only transaction over a consistent snapshot.
func (db *DB) Read(ctx context.Context, fn func(*Tx) error) error {
	c, err := db.reader(ctx)
	if err != nil {
		return err
	}
	defer func() { db.readers <- c }()
	if err := db.begin(ctx, c, "BEGIN", true); err != nil {
		return fmt.Errorf("begin read: %w", ctxErr(ctx, err))
	}
	// The rollback must run even if ctx was cancelled, or the connection
	// would go back to the pool inside a transaction.
	defer c.run(context.Background(), "ROLLBACK") //nolint:errcheck
	return ctxErr(ctx, fn(&Tx{ctx: ctx, c: c}))
}

// ReadLatest runs fn on a reader without an explicit transaction: each
// statement sees the latest committed data, but two statements may see
// different commits. It suits reads of one statement (or whose statements
// need not agree, such as a page and its total), and saves the BEGIN and
// ROLLBACK round trips that Read pays on every request.
func (db *DB) ReadLatest(ctx context.Context, fn func(*Tx) error) error {
	c, err := db.reader(ctx)
	if err != nil {
		return err
	}
	defer func() { db.readers <- c }()
	return ctxErr(ctx, fn(&Tx{ctx: ctx, c: c}))
}

// ctxErr is err, or, when ctx ended while err happened, ctx's error with
// err beside it: a statement that ctx cancelled fails with whatever the
// driver makes of it (pgx may report a bad connection), and callers test
// for context.Canceled.
func ctxErr(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil || errors.Is(err, ctx.Err()) {
		return err
	}
	return fmt.Errorf("%w (%v)", ctx.Err(), err)
}

// reader takes a reader connection from the pool; the caller gives it back.
func (db *DB) reader(ctx context.Context) (*conn, error) {
	select {
	case <-db.quit:
		return nil, ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err // before a reader is picked: an ended ctx would spoil its statement
	}
	select {
	case c := <-db.readers:
		if db.d.postgres && closed(c) {
			// Not only Read's BEGIN: ReadLatest needs a live connection too.
			if err := db.reconnect(ctx, c, true); err != nil {
				db.readers <- c
				return nil, err
			}
		}
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-db.quit:
		return nil, ErrClosed
	}
}

func (db *DB) writerLoop() {
	defer close(db.done)
	for {
		var first *job
		select {
		case first = <-db.jobs:
		case <-db.quit:
			// Finish what was queued before Close.
			for {
				select {
				case j := <-db.jobs:
					db.runBatch([]*job{j})
				default:
					return
				}
			}
		}
		batch := []*job{first}
	fill:
		for len(batch) < db.max {
			select {
			case j := <-db.jobs:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		db.runBatch(batch)
	}
}

// runBatch commits a batch of writes in one transaction (group commit).
// On PostgreSQL, writes that failed only because another agent's
// transaction ran concurrently (see retryable) run again, in a new
// transaction, a bounded number of times.
func (db *DB) runBatch(batch []*job) {
	for attempt := 1; len(batch) > 0; attempt++ {
		batch = db.tryBatch(batch, attempt)
	}
}

// maxWriteAttempts bounds how often a write is run again after a
// serialization failure or deadlock with another agent (a run again takes
// the write gate alone, so the second attempt does not fail that way).
const maxWriteAttempts = 5

// tryBatch runs a batch of writes in one transaction and answers them,
// except those that failed retryably, while attempts remain: it returns
// those.
func (db *DB) tryBatch(batch []*job, attempt int) (again []*job) {
	mayRetry := db.d.postgres && attempt < maxWriteAttempts
	ctx := context.Background()
	w := db.writer
	results := make([]error, len(batch))
	finish := func(commitErr error) {
		ok := false
		for i := range batch {
			if results[i] == nil && commitErr != nil {
				results[i] = commitErr
			}
			if results[i] == nil {
				ok = true
			} else if errors.Is(results[i], ErrFull) || errors.Is(results[i], ErrReadOnly) {
				db.setWriteErr(results[i])
			}
		}
		if ok {
			db.setWriteErr(nil)
		}
		for i, j := range batch {
			if mayRetry && retryable(results[i]) {
				again = append(again, j)
				continue
			}
			j.done <- results[i]
		}
	}
	rollback := func() {
		w.run(ctx, "ROLLBACK") //nolint:errcheck
		db.heads.forgetAll()
	}
	if err := db.begin(ctx, w, "BEGIN IMMEDIATE", false); err != nil {
		finish(fmt.Errorf("begin write: %w", mapErr(err)))
		return
	}
	db.heads.begin()
	if gate := db.d.writeGate(attempt > 1); gate != "" {
		if err := w.run(ctx, gate); err != nil {
			rollback()
			finish(fmt.Errorf("begin write: %w", mapErr(err)))
			return
		}
	}
	appended := false
	single := len(batch) == 1
	for i, j := range batch {
		// A Tx per write: what it tracks (appended changes, member deltas)
		// belongs to that write alone.
		t := &Tx{ctx: ctx, c: w, db: db}
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if !single {
			if err := w.run(ctx, "SAVEPOINT w"); err != nil {
				rollback()
				finish(fmt.Errorf("savepoint: %w", err))
				return
			}
		}
		// Statements run under the writer's own context, not the caller's:
		// SQLite answers an interrupted statement by rolling back the whole
		// transaction, which would take the other writes of the batch with it.
		err := safeRun(j.fn, t)
		appended = appended || (err == nil && t.appended)
		if err != nil {
			results[i] = err
			if single {
				rollback()
				finish(nil)
				return
			}
			if rerr := w.run(ctx, "ROLLBACK TO w"); rerr != nil {
				// SQLite may have rolled back the whole transaction (it does
				// for SQLITE_FULL): the other writes fail for the same reason.
				rollback()
				finish(fmt.Errorf("rollback to savepoint after %w: %v", err, rerr))
				return
			}
			db.heads.rolledBack(t)
		}
		if !single {
			if err := w.run(ctx, "RELEASE w"); err != nil {
				rollback()
				finish(fmt.Errorf("release savepoint: %w", err))
				return
			}
		}
	}
	if appended && db.d.postgres {
		// Delivered to the other agents' listeners at COMMIT (changes.go).
		if err := w.run(ctx, notifyChanges); err != nil {
			rollback()
			finish(fmt.Errorf("notify: %w", mapErr(err)))
			return
		}
	}
	if err := w.run(ctx, "COMMIT"); err != nil {
		rollback()
		finish(fmt.Errorf("commit: %w", mapErr(err)))
		return
	}
	if appended {
		db.notify.wake() // after COMMIT: a woken reader sees the new changes
	}
	finish(nil)
	return again
}

func (db *DB) setWriteErr(err error) {
	db.writeMu.Lock()
	db.writeErr = err
	db.writeMu.Unlock()
}

// WriteError returns the error of the last write that failed because the
// database could not be written (ErrFull or ErrReadOnly), as long as no
// write has succeeded since; nil otherwise. Readiness checks use it: such a
// store still answers reads but refuses every change.
func (db *DB) WriteError() error {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	return db.writeErr
}

func safeRun(fn func(*Tx) error, t *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("write panicked: %v", p)
		}
	}()
	return fn(t)
}

// Tx is a transaction handed to Write and Read callbacks.
type Tx struct {
	ctx context.Context
	c   *conn
	// db, appended, moved and delta are set for write transactions only.
	db       *DB
	appended bool
	moved    []string // tenants whose change head this write moved
	delta    *MemberDelta
}

// maxCachedStatements bounds each connection's statement cache: fixed
// statements and the few filter shapes Entra sends fit easily, while a client
// inventing endless filter shapes cannot grow it without bound.
const maxCachedStatements = 256

func (t *Tx) stmt(query string) (*sql.Stmt, bool, error) {
	if s, ok := t.c.stmts[query]; ok {
		return s, true, nil
	}
	s, err := t.c.c.PrepareContext(t.ctx, t.c.d.sql(query))
	if err != nil {
		return nil, false, fmt.Errorf("prepare %q: %w", query, err)
	}
	if len(t.c.stmts) >= maxCachedStatements {
		return s, false, nil
	}
	t.c.stmts[query] = s
	return s, true, nil
}

// exec runs a statement (prepared once per connection).
func (t *Tx) exec(query string, args ...any) (sql.Result, error) {
	s, cached, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	if !cached {
		defer s.Close()
	}
	res, err := s.ExecContext(t.ctx, t.c.d.args(args)...)
	return res, mapErr(err)
}

func (t *Tx) query(query string, args ...any) (*sql.Rows, error) {
	s, cached, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	if !cached {
		// Rows keep working after the statement is closed in database/sql only
		// until they are closed; run it unprepared instead.
		s.Close()
		return t.c.c.QueryContext(t.ctx, t.c.d.sql(query), t.c.d.args(args)...)
	}
	return s.QueryContext(t.ctx, t.c.d.args(args)...)
}

func (t *Tx) queryRow(query string, args ...any) *sql.Row {
	s, cached, err := t.stmt(query)
	if err != nil || !cached {
		if s != nil {
			s.Close()
		}
		return t.c.c.QueryRowContext(t.ctx, t.c.d.sql(query), t.c.d.args(args)...)
	}
	return s.QueryRowContext(t.ctx, t.c.d.args(args)...)
}

// queryDynamic and queryRowDynamic run statements built per call (filters).
func (t *Tx) queryDynamic(query string, args ...any) (*sql.Rows, error) {
	return t.query(query, args...)
}

func (t *Tx) queryRowDynamic(query string, args ...any) *sql.Row { return t.queryRow(query, args...) }

// mapErr translates driver errors into the store's sentinels, once, here.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if pe := mapPostgresErr(err); pe != nil {
		return pe
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", ErrConflict, err)
		}
		// Primary result codes (https://www.sqlite.org/rescode.html) in the low byte.
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("%w (%v)", ErrFull, err)
		case sqlite3.SQLITE_READONLY:
			return fmt.Errorf("%w (%v)", ErrReadOnly, err)
		}
	}
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w (%v)", ErrFull, err)
	}
	return err
}

func nanos(t time.Time) int64 { return t.UTC().UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func nullNanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return nanos(*t)
}

func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
