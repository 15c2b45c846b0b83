package directory

import (
	"context"
	"strings"
	"time"

	"github.com/rosterhq/roster/store"
)

// Ping reports whether the store accepts a read transaction: the liveness
// behind /healthz and systemd's watchdog.
func (s *Service) Ping(ctx context.Context) error {
	return s.db.Read(ctx, func(*store.Tx) error { return nil })
}

// Ready reports whether the store answers a read of its schema version: the
// readiness behind /readyz.
func (s *Service) Ready(ctx context.Context) error {
	_, err := s.db.SchemaVersion(ctx)
	return err
}

// PruneEvents deletes the provisioning events recorded before before and
// returns how many it deleted.
func (s *Service) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.db.Write(ctx, func(tx *store.Tx) (err error) { n, err = tx.PruneEvents(before); return })
	return n, err
}

// Writable reports whether the store can be written: nil while no write has
// failed for a full disk or a read-only file; after such a failure it tries
// a small write of its own (one database page, so that a store that cannot
// grow by a page is not reported writable) and answers nil once one
// succeeds. /readyz uses it to stay not-ready until writes work again.
func (s *Service) Writable(ctx context.Context) error {
	if s.db.WriteError() == nil {
		return nil
	}
	return s.db.Write(ctx, func(tx *store.Tx) error {
		return tx.SetSetting(settingWriteProbe, writeProbe(s.now()))
	})
}

// settingWriteProbe is the setting Writable writes to learn whether a store
// that could not be written can be again.
const settingWriteProbe = "readyz_write_probe"

// writeProbe is the value Writable writes: the time, padded to a whole
// database page.
func writeProbe(now time.Time) string {
	v := now.UTC().Format(time.RFC3339Nano)
	return v + strings.Repeat(" ", 4096-len(v))
}

// TryLease takes the store's named lease (store.DB.TryLease) with the given
// time to live (0: store.DefaultLeaseTTL), or returns nil while another
// agent on the database holds it. Background work that several agents must
// run once runs under one.
func (s *Service) TryLease(ctx context.Context, name string, ttl time.Duration) (*store.Lease, error) {
	return s.db.TryLease(ctx, name, store.LeaseOptions{TTL: ttl})
}
