package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/store"
)

// checkChangeLogAfterCrash checks the change log of a store whose agent was
// killed: seqs 1..n without a gap; exactly one record for every user and
// membership the database holds (so exactly one for each acknowledged write,
// and one for a write that committed but whose answer the kill cut off), and
// none for anything the database does not hold.
func checkChangeLogAfterCrash(t *testing.T, dataDir, groupID string, ackedUsers, ackedMembers []string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dataDir, "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	created := map[string]int{}
	added := map[string]int{}
	log := readChangeLog(t, db)
	for _, ch := range log {
		switch {
		case ch.Type == feed.UserCreated:
			created[ch.Resource.ID]++
		case ch.Type == feed.GroupMembersChanged && ch.Resource.ID == groupID:
			for _, id := range ch.Added {
				added[id]++
			}
			if len(ch.Removed) > 0 {
				t.Fatalf("change log: members removed %v; nothing removed any", ch.Removed)
			}
		case ch.Type == feed.GroupCreated && ch.Resource.ID == groupID:
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
		g, err := tx.Resource(directory.DefaultTenant, store.KindGroup, groupID)
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
	if len(created) != len(users) {
		t.Errorf("change log: %d users created, the database holds %d", len(created), len(users))
	}
	for _, id := range users {
		if created[id] != 1 {
			t.Errorf("change log: user %s has %d created records, want 1", id, created[id])
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
	for _, id := range ackedUsers {
		if created[id] != 1 {
			t.Errorf("change log: acknowledged user %s has %d records", id, created[id])
		}
	}
	for _, id := range ackedMembers {
		if added[id] != 1 {
			t.Errorf("change log: acknowledged member %s has %d records", id, added[id])
		}
	}
	t.Logf("change log after the kill: %d records for %d acknowledged writes", len(log), len(ackedUsers)+len(ackedMembers)+1)
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
