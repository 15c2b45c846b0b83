package directory

import (
	"context"
	"errors"

	"github.com/rosterhq/roster/store"
)

// This file holds read-only views for the command line (`roster users`,
// `roster groups`): answers the SCIM API has no cheap way to give, such as a
// group's size without its members.

// MemberCounts returns the number of direct members of each of the tenant's
// groups named by id, without loading the members. Ids that are not groups
// of the tenant are absent from the map.
func (s *Service) MemberCounts(ctx context.Context, c Call, groupIDs []string) (map[string]int, error) {
	out := make(map[string]int, len(groupIDs))
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		for _, id := range groupIDs {
			r, err := tx.Resource(c.TenantID, store.KindGroup, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if out[id], err = tx.MemberCount(r.Seq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Named is a user or group as people know it: its kind, and its userName
// (users) or displayName (groups).
type Named struct {
	Kind store.Kind
	Name string
}

// Names resolves ids of the tenant's users and groups (group members, a
// manager) to their names, in one read. Ids that are neither a user nor a
// group of the tenant are absent from the map.
func (s *Service) Names(ctx context.Context, c Call, ids []string) (map[string]Named, error) {
	out := make(map[string]Named, len(ids))
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		for _, id := range ids {
			if _, done := out[id]; done {
				continue
			}
			for _, kind := range []store.Kind{store.KindUser, store.KindGroup} {
				r, err := tx.Resource(c.TenantID, kind, id)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				out[id] = Named{Kind: kind, Name: displayName(kind, r.Doc)}
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
