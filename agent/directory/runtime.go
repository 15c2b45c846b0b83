package directory

import (
	"context"
	"errors"
	"time"

	"github.com/rosterhq/roster/store"
)

// settingPublicURL is the settings key of the base URL the agent last
// started with.
const settingPublicURL = "public_url"

// PublicURL returns the base URL the agent last started with, so that
// commands in other processes (`roster token issue`) print the right Tenant
// URL; "" when no agent has started on this store.
func (s *Service) PublicURL(ctx context.Context) (string, error) {
	var v string
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) { v, err = tx.Setting(settingPublicURL); return })
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return v, err
}

// SetPublicURL records the base URL the agent serves under (see PublicURL).
func (s *Service) SetPublicURL(ctx context.Context, url string) error {
	return s.db.Write(ctx, func(tx *store.Tx) error { return tx.SetSetting(settingPublicURL, url) })
}

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
