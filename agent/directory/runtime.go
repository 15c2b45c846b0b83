package directory

import (
	"context"
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
