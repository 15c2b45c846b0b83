package directory

import (
	"context"
	"fmt"
	"time"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/store"
)

// purgeBatch bounds how many users one purge pass deletes per tenant.
const purgeBatch = 500

// PurgeInactive deletes the users that have been disabled (active=false) for
// longer than their tenant's retention, recording each purge as a
// provisioning event, and returns how many it deleted. Tenants with
// retention 0 keep disabled users forever. Entra disables users first and
// deletes them only on a hard delete (docs/entra.md#soft-delete-and-hard-delete); this keeps
// leavers from piling up when that delete never comes.
func (s *Service) PurgeInactive(ctx context.Context) (int, error) {
	tenants, err := s.Tenants(ctx)
	if err != nil {
		return 0, err
	}
	purged := 0
	for _, t := range tenants {
		keep := t.Settings.Retention()
		if keep <= 0 {
			continue
		}
		now := s.now()
		var users []*store.Resource
		if err := s.db.Read(ctx, func(tx *store.Tx) (err error) {
			users, err = tx.InactiveUsers(t.ID, now.Add(-keep), purgeBatch)
			return
		}); err != nil {
			return purged, err
		}
		for _, u := range users {
			c := Call{TenantID: t.ID, TokenName: "retention", Method: "PURGE", Path: "/Users/" + u.ID, Start: now}
			err := s.db.Write(ctx, func(tx *store.Tx) error {
				if err := tx.DeleteResource(t.ID, store.KindUser, u.ID, s.now()); err != nil {
					return err
				}
				if err := s.logDelete(tx, u); err != nil {
					return err
				}
				ev := s.event(c, store.KindUser, u.ID, displayName(store.KindUser, u.Doc))
				ev.Status = scim.StatusNoContent
				ev.Detail = fmt.Sprintf("purged: disabled for longer than the tenant's retention of %d days", int(keep.Hours()/24))
				return tx.InsertEvent(ev)
			})
			if err != nil {
				return purged, fmt.Errorf("purge %s: %w", u.ID, err)
			}
			purged++
		}
	}
	return purged, nil
}

// PurgeAccessTokens deletes the access tokens that expired or were revoked
// more than a day ago, and returns how many it deleted. They can never be
// used again; the day keeps them visible to an investigation of the last
// hours.
func (s *Service) PurgeAccessTokens(ctx context.Context) (int, error) {
	var n int
	err := s.db.Write(ctx, func(tx *store.Tx) (err error) {
		n, err = tx.PurgeAccessTokens(s.now().Add(-24 * time.Hour))
		return err
	})
	return n, err
}
