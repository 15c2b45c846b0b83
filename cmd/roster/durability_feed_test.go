package main

import (
	"context"
	"testing"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/store"
)

// checkChangeLogAfterCrash checks the change log of the store at loc after
// l's load, during which an agent was killed: seqs 1..n without a gap;
// exactly one record for every user creation, deletion, displayName patch
// and membership the database holds (so exactly one for each acknowledged
// write, and one for a write that committed but whose answer the kill cut
// off), and none for anything the database does not hold.
func checkChangeLogAfterCrash(t *testing.T, loc string, l *crashLoad) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, loc, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	created, updated, deleted, added := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	log := readChangeLog(t, db)
	for _, ch := range log {
		switch {
		case ch.Type == feed.UserCreated:
			created[ch.Resource.ID]++
		case ch.Type == feed.UserUpdated:
			updated[ch.Resource.ID]++
		case ch.Type == feed.UserDeleted:
			deleted[ch.Resource.ID]++
		case ch.Type == feed.GroupMembersChanged && ch.Resource.ID == l.group:
			for _, id := range ch.Added {
				added[id]++
			}
			if len(ch.Removed) > 0 {
				t.Fatalf("change log: members removed %v; nothing removed any", ch.Removed)
			}
		case ch.Type == feed.GroupCreated && ch.Resource.ID == l.group:
		default:
			t.Fatalf("change log: unexpected %s of %s", ch.Type, ch.Resource.ID)
		}
	}
	var users []string
	members := map[string]bool{}
	if err := db.Read(ctx, func(tx *store.Tx) error {
		page, err := tx.Query(store.Query{TenantID: directory.DefaultTenant, Kind: store.KindUser, Count: -1})
		if err != nil {
			return err
		}
		for _, r := range page.Resources {
			users = append(users, r.ID)
		}
		g, err := tx.Resource(directory.DefaultTenant, store.KindGroup, l.group)
		if err != nil {
			return err
		}
		ms, err := tx.Members(g.Seq)
		for _, m := range ms {
			members[m.Value] = true
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(created) != len(users)+len(deleted) {
		t.Errorf("change log: %d users created and %d deleted, the database holds %d", len(created), len(deleted), len(users))
	}
	for _, id := range users {
		if created[id] != 1 || deleted[id] != 0 {
			t.Errorf("change log: user %s has %d created and %d deleted records, want 1 and 0", id, created[id], deleted[id])
		}
	}
	for id, n := range deleted {
		if n != 1 || created[id] != 1 {
			t.Errorf("change log: deleted user %s has %d created and %d deleted records, want 1 each", id, created[id], n)
		}
	}
	if len(added) != len(members) {
		t.Errorf("change log: %d members added, the group holds %d", len(added), len(members))
	}
	for id := range members {
		if added[id] != 1 {
			t.Errorf("change log: member %s added %d times, want 1", id, added[id])
		}
	}
	for id, n := range updated {
		if n != 1 {
			t.Errorf("change log: user %s updated %d times; it was patched once", id, n)
		}
	}
	for _, acked := range []struct {
		what string
		ids  []string
		log  map[string]int
	}{{"created user", l.users, created}, {"member", l.members, added}, {"patched user", l.patched, updated}, {"deleted user", l.deleted, deleted}} {
		for _, id := range acked.ids {
			if acked.log[id] != 1 {
				t.Errorf("change log: acknowledged %s %s has %d records, want 1", acked.what, id, acked.log[id])
			}
		}
	}
	t.Logf("change log after the kill: %d records for %d acknowledged writes", len(log),
		len(l.users)+len(l.members)+len(l.patched)+len(l.deleted)+1)
}

// readChangeLog reads the default tenant's whole change log from db and
// checks that its seqs run 1..n without a gap.
func readChangeLog(t *testing.T, db *store.DB) []feed.Change {
	t.Helper()
	dir := directory.New(db, nil, nil)
	var log []feed.Change
	for after := int64(0); ; {
		page, err := dir.ReadChanges(context.Background(), directory.DefaultTenant, after, directory.MaxChangesPage, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range page.Changes {
			if ch.Seq != after+1 {
				t.Fatalf("change log: seq %d follows %d", ch.Seq, after)
			}
			after = ch.Seq
			log = append(log, ch)
		}
		if !page.HasMore {
			return log
		}
	}
}
