package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"modernc.org/sqlite"
)

// blockWriter occupies the writer with a job that waits until release is
// called, so that writes issued meanwhile queue up and form the next batch.
// The returned wait function returns the blocking job's own result.
func blockWriter(t *testing.T, db *DB) (release func(), wait func() error) {
	t.Helper()
	started := make(chan struct{})
	unblock := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- db.Write(context.Background(), func(tx *Tx) error {
			close(started)
			<-unblock
			return tx.SetSetting("blocker", "done")
		})
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("blocking write never started")
	}
	var once sync.Once
	release = func() { once.Do(func() { close(unblock) }) }
	t.Cleanup(release)
	return release, func() error { return <-result }
}

// waitQueued waits until n writes wait in the writer's queue.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(db.jobs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued after 10s, want %d", len(db.jobs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func settingOr(tx *Tx, key string) string {
	v, err := tx.Setting(key)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return v
}

func TestWriteConcurrentWritesAllCommit(t *testing.T) {
	for _, opt := range []Options{{}, {MaxBatch: 3}} {
		t.Run(fmt.Sprintf("MaxBatch %d", opt.MaxBatch), func(t *testing.T) {
			testConcurrentWrites(t, opt)
		})
	}
}

func testConcurrentWrites(t *testing.T, opt Options) {
	db := openTest(t, opt)
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Write(context.Background(), func(tx *Tx) error {
				return tx.SetSetting(fmt.Sprintf("k%03d", i), fmt.Sprint(i))
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	mustRead(t, db, func(tx *Tx) error {
		got, err := countRows(tx, "settings")
		if err != nil {
			return err
		}
		if got != n {
			t.Errorf("settings rows = %d, want %d", got, n)
		}
		for i := 0; i < n; i++ {
			if got, want := settingOr(tx, fmt.Sprintf("k%03d", i)), fmt.Sprint(i); got != want {
				t.Errorf("k%03d = %q, want %q", i, got, want)
			}
		}
		return nil
	})
}

var errJob = errors.New("job failed on purpose")

// TestWriteBatchIsolatesFailures checks runBatch's savepoints: in one group
// commit, a job that fails rolls back only its own changes.
func TestWriteBatchIsolatesFailures(t *testing.T) {
	failures := []struct {
		name    string
		fail    func(tx *Tx) error // runs after the job wrote its own setting
		wantErr func(error) bool
	}{
		{"error", func(*Tx) error { return errJob }, func(err error) bool { return errors.Is(err, errJob) }},
		{"panic", func(*Tx) error { panic("boom") }, func(err error) bool { return err != nil && strings.Contains(err.Error(), "boom") }},
		{"constraint", func(tx *Tx) error {
			// A duplicate userName: the statement fails, the job returns the error.
			if err := tx.InsertResource(newUser("t1", "dup2", "other@example.com")); err != nil {
				return err
			}
			return tx.InsertResource(newUser("t1", "dup3", "DUP@example.com"))
		}, func(err error) bool { return errors.Is(err, ErrConflict) }},
	}
	positions := []int{0, 1, 2} // where the failing job sits in the batch of three
	for _, f := range failures {
		for _, pos := range positions {
			t.Run(fmt.Sprintf("%s at %d", f.name, pos), func(t *testing.T) {
				db := openTest(t, Options{})
				addTenant(t, db, "t1")
				insert(t, db, newUser("t1", "dup1", "dup@example.com"))
				release, wait := blockWriter(t, db)

				errs := make([]error, 3)
				var wg sync.WaitGroup
				for i := 0; i < 3; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[i] = db.Write(context.Background(), func(tx *Tx) error {
							if err := tx.SetSetting(fmt.Sprintf("job%d", i), "written"); err != nil {
								return err
							}
							if i == pos {
								return f.fail(tx)
							}
							return nil
						})
					}()
					waitQueued(t, db, i+1) // keep the order of the batch fixed
				}
				release()
				wg.Wait()
				if err := wait(); err != nil {
					t.Errorf("blocking write: %v", err)
				}
				for i, err := range errs {
					if i == pos {
						if !f.wantErr(err) {
							t.Errorf("failing job %d: err = %v, want the %s error", i, err, f.name)
						}
						continue
					}
					if err != nil {
						t.Errorf("job %d in the same batch: err = %v, want nil", i, err)
					}
				}
				mustRead(t, db, func(tx *Tx) error {
					for i := 0; i < 3; i++ {
						want := "written"
						if i == pos {
							want = "<not found>"
						}
						if got := settingOr(tx, fmt.Sprintf("job%d", i)); got != want {
							t.Errorf("job%d = %q, want %q", i, got, want)
						}
					}
					if n, err := tx.CountResources("t1", KindUser); err != nil || n != 1 {
						t.Errorf("users = %d, %v; want 1 (the failing job's insert rolled back)", n, err)
					}
					return nil
				})
			})
		}
	}
}

func TestWriteSingleFailingJobRollsBack(t *testing.T) {
	db := openTest(t, Options{})
	err := db.Write(context.Background(), func(tx *Tx) error {
		if err := tx.SetSetting("alone", "x"); err != nil {
			return err
		}
		return errJob
	})
	if !errors.Is(err, errJob) {
		t.Fatalf("Write = %v, want errJob", err)
	}
	mustRead(t, db, func(tx *Tx) error {
		if got := settingOr(tx, "alone"); got != "<not found>" {
			t.Errorf("alone = %q, want it rolled back", got)
		}
		return nil
	})
	// The writer is still usable.
	mustWrite(t, db, func(tx *Tx) error { return tx.SetSetting("after", "y") })
}

func TestWriteCancelledContextNotRun(t *testing.T) {
	t.Run("cancelled before Write", func(t *testing.T) {
		db := openTest(t, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var ran atomic.Int32
		for i := 0; i < 20; i++ {
			err := db.Write(ctx, func(tx *Tx) error {
				ran.Add(1)
				return tx.SetSetting("cancelled", "ran")
			})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Write #%d with a cancelled ctx = %v, want context.Canceled", i, err)
			}
		}
		if n := ran.Load(); n != 0 {
			t.Errorf("fn ran %d times, want 0", n)
		}
	})
	t.Run("cancelled while queued", func(t *testing.T) {
		db := openTest(t, Options{})
		release, wait := blockWriter(t, db)
		ctx, cancel := context.WithCancel(context.Background())
		var ran atomic.Int32
		errs := make(chan error, 3)
		for i, c := range []context.Context{context.Background(), ctx, context.Background()} {
			go func() {
				errs <- db.Write(c, func(tx *Tx) error {
					ran.Add(1)
					return tx.SetSetting(fmt.Sprintf("q%d", i), "ran")
				})
			}()
			waitQueued(t, db, i+1)
		}
		cancel()
		release()
		var got []string
		for i := 0; i < 3; i++ {
			if err := <-errs; err != nil {
				got = append(got, err.Error())
			}
		}
		if err := wait(); err != nil {
			t.Errorf("blocking write: %v", err)
		}
		if want := []string{context.Canceled.Error()}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("errors = %q, want %q", got, want)
		}
		if n := ran.Load(); n != 2 {
			t.Errorf("fn ran %d times, want 2 (not the cancelled one)", n)
		}
		mustRead(t, db, func(tx *Tx) error {
			for i, want := range []string{"ran", "<not found>", "ran"} {
				if got := settingOr(tx, fmt.Sprintf("q%d", i)); got != want {
					t.Errorf("q%d = %q, want %q", i, got, want)
				}
			}
			return nil
		})
	})
}

// cancelHook is called by the SQL function roster_test_cancel(x), which
// returns x: a test uses it to end a context while a statement runs.
var cancelHook atomic.Pointer[context.CancelFunc]

func init() {
	sqlite.MustRegisterDeterministicScalarFunction("roster_test_cancel", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		if f := cancelHook.Load(); f != nil {
			(*f)()
		}
		return args[0], nil
	})
}

// TestWriteCancelDuringStatementIsolated: a job whose context ends while one
// of its statements runs (an HTTP client that hangs up mid-request) must not
// take the other writes of its batch down with it. SQLite answers an
// interrupted INSERT inside a transaction by rolling back the whole
// transaction, so the store must not interrupt a shared one.
func TestWriteCancelDuringStatementIsolated(t *testing.T) {
	sqliteOnly(t, "the cancel hook is a function registered with the sqlite driver (statements run under the writer's context on both backends)")
	db := openTest(t, Options{})
	release, wait := blockWriter(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelHook.Store(&cancel)
	defer cancelHook.Store(nil)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		c := context.Background()
		if i == 1 {
			c = ctx
		}
		go func() {
			defer wg.Done()
			errs[i] = db.Write(c, func(tx *Tx) error {
				if err := tx.SetSetting(fmt.Sprintf("job%d", i), "written"); err != nil {
					return err
				}
				if i != 1 {
					return nil
				}
				// The first row ends ctx; the statement then keeps running
				// for a while, long enough for an interrupt to land in it.
				_, err := tx.exec(`INSERT INTO settings(key, value)
					WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000)
					SELECT 'loop' || roster_test_cancel(x), '' FROM n WHERE x = 1 OR x = 20000`)
				return err
			})
		}()
		waitQueued(t, db, i+1)
	}
	release()
	wg.Wait()
	if err := wait(); err != nil {
		t.Errorf("blocking write: %v", err)
	}
	if ctx.Err() == nil {
		t.Fatal("the statement never called roster_test_cancel")
	}
	for _, i := range []int{0, 2} {
		if errs[i] != nil {
			t.Errorf("job %d in the same batch as the cancelled one: err = %v, want nil", i, errs[i])
		}
	}
	// The cancelled job itself may fail or commit, but its result must say
	// which: an error means none of its changes, nil means all of them.
	want1 := []string{"written", "", ""}
	if errs[1] != nil {
		if !errors.Is(errs[1], context.Canceled) {
			t.Errorf("cancelled job: err = %v, want nil or context.Canceled", errs[1])
		}
		want1 = []string{"<not found>", "<not found>", "<not found>"}
	}
	mustRead(t, db, func(tx *Tx) error {
		for i, key := range []string{"job0", "job2"} {
			if got := settingOr(tx, key); got != "written" {
				t.Errorf("%s (job %d) = %q, want %q", key, 2*i, got, "written")
			}
		}
		for i, key := range []string{"job1", "loop1", "loop20000"} {
			if got := settingOr(tx, key); got != want1[i] {
				t.Errorf("cancelled job returned %v but %s = %q, want %q", errs[1], key, got, want1[i])
			}
		}
		return nil
	})
}

func TestWriteAfterCloseReturnsErrClosed(t *testing.T) {
	db, err := Open(context.Background(), testLocation(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Write chooses between a free slot in the job queue and the closed quit
	// channel; it must answer ErrClosed every time, never queue a job that no
	// writer will run.
	const n = 50
	results := make(chan error, n)
	var ran atomic.Int32
	for i := 0; i < n; i++ {
		go func() {
			results <- db.Write(context.Background(), func(*Tx) error { ran.Add(1); return nil })
		}()
	}
	timeout := time.After(2 * time.Second)
	closed, hung := 0, 0
	for i := 0; i < n; i++ {
		select {
		case err := <-results:
			if errors.Is(err, ErrClosed) {
				closed++
			} else {
				t.Errorf("Write after Close = %v, want ErrClosed", err)
			}
		case <-timeout:
			hung = n - i
			i = n
		}
	}
	if hung > 0 {
		t.Errorf("%d of %d Writes after Close never returned (queued behind a stopped writer); %d returned ErrClosed", hung, n, closed)
	}
	if r := ran.Load(); r != 0 {
		t.Errorf("%d writes ran after Close, want 0", r)
	}
}

func TestCloseWaitsForQueuedWrites(t *testing.T) {
	ctx := context.Background()
	path := testLocation(t)
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	release, wait := blockWriter(t, db)
	const n = 20
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			errs <- db.Write(ctx, func(tx *Tx) error { return tx.SetSetting(fmt.Sprintf("queued%02d", i), "ok") })
		}()
	}
	waitQueued(t, db, n)
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a write was still running", err)
	case <-time.After(20 * time.Millisecond):
	}
	release()
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := wait(); err != nil {
		t.Errorf("blocking write: %v", err)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Errorf("queued write: %v", err)
		}
	}
	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustRead(t, db, func(tx *Tx) error {
		got, err := countRows(tx, "settings")
		if err != nil {
			return err
		}
		if want := n + 1; got != want {
			t.Errorf("settings after Close and reopen = %d, want %d", got, want)
		}
		return nil
	})
}

// TestReadSnapshot: a Read sees a consistent snapshot, neither the
// uncommitted changes of a running write nor a commit that happened after
// its snapshot began.
func TestReadSnapshot(t *testing.T) {
	t.Run("uncommitted write invisible", func(t *testing.T) {
		db := openTest(t, Options{})
		inserted := make(chan struct{})
		proceed := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- db.Write(context.Background(), func(tx *Tx) error {
				if err := tx.SetSetting("k", "v"); err != nil {
					return err
				}
				close(inserted)
				<-proceed
				return nil
			})
		}()
		<-inserted
		mustRead(t, db, func(tx *Tx) error {
			if got := settingOr(tx, "k"); got != "<not found>" {
				t.Errorf("Read during an open write transaction sees k = %q, want nothing", got)
			}
			return nil
		})
		close(proceed)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		mustRead(t, db, func(tx *Tx) error {
			if got := settingOr(tx, "k"); got != "v" {
				t.Errorf("Read after commit sees k = %q, want %q", got, "v")
			}
			return nil
		})
	})
	t.Run("commit during read invisible", func(t *testing.T) {
		db := openTest(t, Options{})
		mustWrite(t, db, func(tx *Tx) error { return tx.SetSetting("a", "1") })
		snapshot := make(chan struct{})
		committed := make(chan struct{})
		readDone := make(chan error, 1)
		go func() {
			readDone <- db.Read(context.Background(), func(tx *Tx) error {
				first, err := countRows(tx, "settings")
				if err != nil {
					return err
				}
				close(snapshot)
				<-committed
				second, err := countRows(tx, "settings")
				if err != nil {
					return err
				}
				if first != 1 || second != first {
					return fmt.Errorf("counts in one Read = %d then %d, want 1 then 1", first, second)
				}
				if got := settingOr(tx, "b"); got != "<not found>" {
					return fmt.Errorf("b = %q inside the older snapshot, want nothing", got)
				}
				return nil
			})
		}()
		<-snapshot
		mustWrite(t, db, func(tx *Tx) error { return tx.SetSetting("b", "2") })
		close(committed)
		if err := <-readDone; err != nil {
			t.Error(err)
		}
		mustRead(t, db, func(tx *Tx) error {
			if n, err := countRows(tx, "settings"); err != nil || n != 2 {
				t.Errorf("a later Read counts %d, %v; want 2", n, err)
			}
			return nil
		})
	})
}

func TestReadAfterCloseReturns(t *testing.T) {
	db, err := Open(context.Background(), testLocation(t), Options{Readers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	result := make(chan error, 1)
	go func() { result <- db.Read(context.Background(), func(*Tx) error { return nil }) }()
	select {
	case err := <-result:
		if err == nil {
			t.Errorf("Read after Close = nil, want an error")
		} else if !errors.Is(err, ErrClosed) {
			t.Logf("Read after Close = %v (not ErrClosed)", err)
		}
	case <-time.After(time.Second):
		t.Errorf("Read after Close blocked (waiting for a reader connection that Close took away), want an error")
	}
}

// TestCloseTwice: Close is idempotent (Cleanup functions and deferred Closes
// often run after an explicit one).
func TestCloseTwice(t *testing.T) {
	db, err := Open(context.Background(), testLocation(t), Options{Readers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	result := make(chan error, 1)
	go func() { result <- db.Close() }()
	select {
	case err := <-result:
		if err != nil {
			t.Errorf("second Close = %v, want nil", err)
		}
	case <-time.After(time.Second):
		t.Errorf("second Close blocked, want it to return at once")
	}
}
