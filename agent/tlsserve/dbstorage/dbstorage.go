// Package dbstorage keeps github.com/caddyserver/certmagic's storage — the
// ACME account, certificates, keys and metadata — in the agent's database
// (store's certificate tables), so that every agent on one database serves
// the same certificate, and its locks make one agent obtain or renew it while
// the others wait and then load it.
//
// A lock is one of the store's named leases (store.DB.TryLease): a row with
// an owner token and an expiry, taken in one statement when it is free or
// expired. The holder moves the expiry forward every Options.LockTTL/3 while
// it holds the lock, so the lock of an agent that died (kill -9, a lost
// machine) expires after LockTTL and another agent takes it over. As with
// certmagic's own FileStorage, expiry uses the agents' clocks: their skew
// must stay well below LockTTL.
package dbstorage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/rosterhq/roster/store"
)

// DefaultLockTTL is how long a lock outlives its last refresh.
const DefaultLockTTL = 30 * time.Second

// Options tunes New.
type Options struct {
	// LockTTL is how long a lock outlives its holder's last refresh, and so
	// how long a dead agent's lock blocks the others; 0 means
	// DefaultLockTTL. The holder refreshes it every LockTTL/3.
	LockTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives a warning when a held lock is lost; nil discards.
	Logger *slog.Logger
}

// Storage is a certmagic.Storage (and TryLocker) over a store.DB.
type Storage struct {
	db    *store.DB
	ttl   time.Duration
	every time.Duration // how often a held lock is extended; 0 is ttl/3
	now   func() time.Time
	log   *slog.Logger

	mu   sync.Mutex
	held map[string]*store.Lease
}

var (
	_ certmagic.Storage   = (*Storage)(nil)
	_ certmagic.TryLocker = (*Storage)(nil)
)

// New returns the storage over db.
func New(db *store.DB, opt Options) *Storage {
	if opt.LockTTL <= 0 {
		opt.LockTTL = DefaultLockTTL
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Storage{db: db, ttl: opt.LockTTL, now: opt.Now, log: opt.Logger, held: map[string]*store.Lease{}}
}

// String names the storage in certmagic's log.
func (s *Storage) String() string { return "roster database " + s.db.Path() }

// notExist wraps fs.ErrNotExist, what certmagic tests for, for key.
func notExist(key string) error {
	return fmt.Errorf("certificate storage key %s: %w", key, fs.ErrNotExist)
}

// Store puts value at key.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	return s.db.Write(ctx, func(tx *store.Tx) error { return tx.PutCertData(key, value, s.now()) })
}

// Load returns the value at key, or an error wrapping fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.db.ReadLatest(ctx, func(tx *store.Tx) (err error) { v, _, err = tx.CertData(key); return })
	if errors.Is(err, store.ErrNotFound) {
		return nil, notExist(key)
	}
	return v, err
}

// Delete removes key and every key below it; a missing key is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	return s.db.Write(ctx, func(tx *store.Tx) error { return tx.DeleteCertData(key) })
}

// Exists reports whether key is a value or a "directory" of values.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// Stat describes key: a value (IsTerminal) or a "directory", the prefix of
// other keys; an error wrapping fs.ErrNotExist when it is neither.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	var size int64
	var mod time.Time
	var value bool
	var below []string
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) {
		size, mod, err = tx.CertDataInfo(key)
		if value = err == nil; errors.Is(err, store.ErrNotFound) {
			below, err = tx.CertDataKeys(key)
		}
		return err
	})
	switch {
	case err != nil:
		return certmagic.KeyInfo{}, err
	case value:
		return certmagic.KeyInfo{Key: key, Modified: mod, Size: size, IsTerminal: true}, nil
	case len(below) > 0:
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, notExist(key)
}

// List returns the keys below prefix: every key when recursive, otherwise
// its direct children, values and "directories" alike (as FileStorage does).
// A prefix that is neither a value nor a directory is an error wrapping
// fs.ErrNotExist; a value has no keys below it.
func (s *Storage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	prefix = strings.Trim(prefix, "/")
	var keys []string
	var isValue bool
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) {
		if keys, err = tx.CertDataKeys(prefix); err != nil || len(keys) > 0 || prefix == "" {
			return err
		}
		_, _, err = tx.CertDataInfo(prefix)
		isValue = err == nil
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 && !isValue && prefix != "" {
		return nil, notExist(prefix)
	}
	// rel is a key's path below prefix, split into its parts.
	rel := func(k string) []string {
		if prefix != "" {
			k = strings.TrimPrefix(k, prefix+"/")
		}
		return strings.Split(k, "/")
	}
	var out []string
	seen := map[string]bool{}
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, k := range keys {
		parts := rel(k)
		if !recursive {
			add(path.Join(prefix, parts[0])) // a value, or a "directory"
			continue
		}
		// Every "directory" on the way, as FileStorage's walk lists them.
		for i := 1; i < len(parts); i++ {
			add(path.Join(prefix, path.Join(parts[:i]...)))
		}
		add(k)
	}
	return out, nil
}

// Lock takes the lock name, waiting (with a growing, jittered pause, until
// ctx ends) while another holds it and it has not expired.
func (s *Storage) Lock(ctx context.Context, name string) error {
	wait := 50 * time.Millisecond
	for {
		ok, err := s.TryLock(ctx, name)
		if err != nil || ok {
			return err
		}
		// Jitter spreads agents that wait for the same lock.
		d := wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for certificate lock %s: %w", name, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, time.Second, s.ttl/2)
	}
}

// TryLock takes the lock name if it is free or expired, and reports
// whether it did.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	s.mu.Lock()
	_, mine := s.held[name]
	s.mu.Unlock()
	if mine {
		// Held by this agent already (another goroutine): not free.
		return false, nil
	}
	l, err := s.db.TryLease(ctx, name, store.LeaseOptions{TTL: s.ttl, Now: s.now, Every: s.every})
	if err != nil || l == nil {
		return false, err
	}
	s.mu.Lock()
	if _, raced := s.held[name]; raced {
		// Another goroutine of this agent took the lock over after this
		// agent's own hold expired unrefreshed: one holder per agent.
		s.mu.Unlock()
		l.Release() //nolint:errcheck
		return false, nil
	}
	s.held[name] = l
	s.mu.Unlock()
	go func() {
		<-l.Lost()
		s.mu.Lock()
		still := s.held[name] == l // not unlocked
		s.mu.Unlock()
		if still {
			s.log.Warn("certificate lock expired and may have been taken over by another agent", "lock", name)
		}
	}()
	return true, nil
}

// Unlock releases the lock name that this Storage took. It is an error if
// this Storage does not hold it, or if the lock expired and another agent
// took it over meanwhile.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	l, ok := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("unlock certificate lock %s: not held by this agent", name)
	}
	if err := l.Release(); err != nil {
		return fmt.Errorf("unlock certificate lock %s: %w", name, err)
	}
	return nil
}
