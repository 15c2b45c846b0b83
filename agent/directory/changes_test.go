package directory

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/agent/scim/schema"
	"github.com/rosterhq/roster/store"
)

// TestChangeLogOneRecordPerWrite runs every kind of write and checks that
// each appends exactly one record of the right type, with the next seq, and
// that a failed write appends none.
func TestChangeLogOneRecordPerWrite(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := openService(t, clock)
	one := 1
	if _, err := s.AddTenant(ctx, "t", "", store.TenantSettings{RetentionDays: &one}); err != nil {
		t.Fatal(err)
	}
	c := Call{TenantID: "t", BaseURL: "http://x/scim/t/v2"}
	app := Call{TenantID: "t", BaseURL: "http://x/scim/t/v2", App: true}
	var last int64
	// next reads what the write appended since the previous call.
	next := func(t *testing.T) []feed.Change {
		t.Helper()
		page, err := s.ReadChanges(ctx, "t", last, 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range page.Changes {
			if ch.Seq != last+1 {
				t.Fatalf("seq %d after %d: want %d", ch.Seq, last, last+1)
			}
			last = ch.Seq
		}
		return page.Changes
	}
	wantOne := func(t *testing.T, typ string) feed.Change {
		t.Helper()
		got := next(t)
		if len(got) != 1 {
			t.Fatalf("the write appended %d records, want 1: %+v", len(got), got)
		}
		if got[0].Type != typ {
			t.Fatalf("type %q, want %q", got[0].Type, typ)
		}
		if got[0].ID == "" || got[0].Tenant != "t" || got[0].Time.IsZero() {
			t.Fatalf("record lacks id, tenant or time: %+v", got[0])
		}
		if strings.Contains(string(got[0].Data), "password") || strings.Contains(string(got[0].Data), "s3cret") {
			t.Fatalf("record carries a password: %s", got[0].Data)
		}
		return got[0]
	}
	wantNone := func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("the write succeeded; want it to fail")
		}
		if got := next(t); len(got) != 0 {
			t.Fatalf("a failed write appended %+v", got)
		}
	}
	create := func(kind store.Kind, doc map[string]any) string {
		t.Helper()
		got, err := s.Create(ctx, c, kind, doc)
		if err != nil {
			t.Fatal(err)
		}
		return got.Doc["id"].(string)
	}
	patch := func(call Call, kind store.Kind, id, body string) error {
		_, err := s.Patch(ctx, call, kind, id, []byte(body), "")
		return err
	}

	ann := create(store.KindUser, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "ann@x.test", "password": "s3cret", "active": true})
	ch := wantOne(t, feed.UserCreated)
	var data map[string]any
	if err := json.Unmarshal(ch.Data, &data); err != nil || data["userName"] != "ann@x.test" || data["id"] != ann {
		t.Fatalf("created data %s (%v)", ch.Data, err)
	}
	if ch.Resource != (feed.Resource{Type: "User", ID: ann, UserName: "ann@x.test"}) {
		t.Fatalf("resource %+v", ch.Resource)
	}
	bob := create(store.KindUser, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "bob@x.test"})
	wantOne(t, feed.UserCreated)

	wantNone(t, func() error {
		_, err := s.Create(ctx, c, store.KindUser, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "ANN@x.test"})
		return err
	}())

	if err := patch(c, store.KindUser, ann, `{"Operations":[{"op":"replace","path":"displayName","value":"Ann"}]}`); err != nil {
		t.Fatal(err)
	}
	if ch := wantOne(t, feed.UserUpdated); !slices.Equal(ch.Paths, []string{"displayName"}) {
		t.Fatalf("paths %v", ch.Paths)
	}
	if err := patch(c, store.KindUser, ann, `{"Operations":[{"op":"replace","path":"active","value":false}]}`); err != nil {
		t.Fatal(err)
	}
	wantOne(t, feed.UserDeactivated)
	if err := patch(c, store.KindUser, ann, `{"Operations":[{"op":"replace","path":"active","value":"True"}]}`); err != nil {
		t.Fatal(err)
	}
	wantOne(t, feed.UserReactivated)
	// A PATCH that changes nothing moves no version and appends nothing.
	if err := patch(c, store.KindUser, ann, `{"Operations":[{"op":"replace","path":"displayName","value":"Ann"}]}`); err != nil {
		t.Fatal(err)
	}
	if got := next(t); len(got) != 0 {
		t.Fatalf("a no-op PATCH appended %+v", got)
	}
	// An app token may change what Entra does not manage; not what it does.
	if err := patch(app, store.KindUser, bob, `{"Operations":[{"op":"add","path":"title","value":"Engineer"}]}`); err != nil {
		t.Fatal(err)
	}
	wantOne(t, feed.UserUpdated)
	wantNone(t, patch(app, store.KindUser, bob, `{"Operations":[{"op":"replace","path":"userName","value":"robert@x.test"}]}`))

	if _, err := s.Replace(ctx, c, store.KindUser, bob, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "bob@x.test", "displayName": "Bob"}, ""); err != nil {
		t.Fatal(err)
	}
	if ch := wantOne(t, feed.UserUpdated); !slices.Equal(ch.Paths, []string{"displayName", "title"}) {
		t.Fatalf("replace paths %v", ch.Paths)
	}
	wantNone(t, func() error {
		_, err := s.Replace(ctx, c, store.KindUser, bob, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "bob@x.test"}, `W/"1"`)
		return err
	}())

	grp := create(store.KindGroup, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Staff", "members": []any{map[string]any{"value": ann}}})
	if ch := wantOne(t, feed.GroupCreated); !slices.Equal(ch.Added, []string{ann}) || strings.Contains(string(ch.Data), "members") {
		t.Fatalf("group created: added %v, data %s", ch.Added, ch.Data)
	}
	if err := patch(c, store.KindGroup, grp, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+bob+`"}]}]}`); err != nil {
		t.Fatal(err)
	}
	if ch := wantOne(t, feed.GroupMembersChanged); !slices.Equal(ch.Added, []string{bob}) || len(ch.Removed) != 0 {
		t.Fatalf("members changed: %+v", ch)
	}
	// Entra re-adds present members: nothing changes, nothing is appended.
	if err := patch(c, store.KindGroup, grp, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+bob+`"}]}]}`); err != nil {
		t.Fatal(err)
	}
	if got := next(t); len(got) != 0 {
		t.Fatalf("re-adding a member appended %+v", got)
	}
	// Both the name and the members: one group.updated carrying both.
	if err := patch(c, store.KindGroup, grp, `{"Operations":[{"op":"replace","path":"displayName","value":"All staff"},
		{"op":"remove","path":"members[value eq \"`+ann+`\"]"}]}`); err != nil {
		t.Fatal(err)
	}
	if ch := wantOne(t, feed.GroupUpdated); !slices.Equal(ch.Paths, []string{"displayName", "members"}) || !slices.Equal(ch.Removed, []string{ann}) || ch.Resource.DisplayName != "All staff" {
		t.Fatalf("group updated: %+v", ch)
	}
	// A PUT that swaps the members reports the net difference.
	if _, err := s.Replace(ctx, c, store.KindGroup, grp, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "All staff", "members": []any{map[string]any{"value": ann}}}, ""); err != nil {
		t.Fatal(err)
	}
	if ch := wantOne(t, feed.GroupMembersChanged); !slices.Equal(ch.Added, []string{ann}) || !slices.Equal(ch.Removed, []string{bob}) {
		t.Fatalf("group replaced: %+v", ch)
	}
	wantNone(t, patch(c, store.KindGroup, grp, `{"Operations":[{"op":"add","path":"members","value":[{"value":"nobody"}]}]}`))

	if err := s.Delete(ctx, c, store.KindUser, bob, ""); err != nil {
		t.Fatal(err)
	}
	if ch := wantOne(t, feed.UserDeleted); ch.Data != nil || ch.Resource.UserName != "bob@x.test" {
		t.Fatalf("deleted: %+v", ch)
	}
	wantNone(t, s.Delete(ctx, c, store.KindUser, bob, ""))
	if err := s.Delete(ctx, c, store.KindGroup, grp, ""); err != nil {
		t.Fatal(err)
	}
	wantOne(t, feed.GroupDeleted)

	// The retention purge deletes a user disabled for longer than a day.
	if err := patch(c, store.KindUser, ann, `{"Operations":[{"op":"replace","path":"active","value":false}]}`); err != nil {
		t.Fatal(err)
	}
	wantOne(t, feed.UserDeactivated)
	clock.Add(48 * time.Hour)
	if n, err := s.PurgeInactive(ctx); err != nil || n != 1 {
		t.Fatalf("purged %d (%v), want 1", n, err)
	}
	if ch := wantOne(t, feed.UserDeleted); ch.Resource.ID != ann {
		t.Fatalf("purge record %+v", ch)
	}
}

// TestChangeLogExpiry prunes the log and checks that a reader behind it is
// told to start again from a snapshot, while after=0 and readers at the cut
// carry on; and that seqs continue after the log was emptied.
func TestChangeLogExpiry(t *testing.T) {
	ctx := context.Background()
	s, clock := feedTenant(t)
	c := Call{TenantID: "t", BaseURL: "http://x"}
	for _, n := range []string{"a", "b", "c"} {
		if _, err := s.Create(ctx, c, store.KindUser, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": n}); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Hour)
	}
	// Keep the changes of the last 90 minutes: seq 3 only.
	if n, err := s.PruneChanges(ctx, clock.Now().Add(-90*time.Minute)); err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want 2", n, err)
	}
	for _, tc := range []struct {
		after   int64
		want    []int64
		expired bool
	}{
		{after: 0, want: []int64{3}},
		{after: 1, expired: true},
		{after: 2, want: []int64{3}},
		{after: 3, want: nil},
		{after: 4, expired: true}, // beyond the log: not this log's seq
	} {
		page, err := s.ReadChanges(ctx, "t", tc.after, 10, nil)
		if tc.expired {
			if !errors.Is(err, feed.ErrExpired) {
				t.Errorf("after %d: err %v, want ErrExpired", tc.after, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("after %d: %v", tc.after, err)
		}
		var seqs []int64
		for _, ch := range page.Changes {
			seqs = append(seqs, ch.Seq)
		}
		if !slices.Equal(seqs, tc.want) || page.NextAfter != 3 {
			t.Errorf("after %d: seqs %v next %d, want %v next 3", tc.after, seqs, page.NextAfter, tc.want)
		}
	}
	if _, err := s.PruneChanges(ctx, clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, c, store.KindUser, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "d"}); err != nil {
		t.Fatal(err)
	}
	page, err := s.ReadChanges(ctx, "t", 3, 10, nil)
	if err != nil || len(page.Changes) != 1 || page.Changes[0].Seq != 4 {
		t.Fatalf("after emptying the log: %+v (%v), want seq 4", page, err)
	}
	if _, err := s.ReadChanges(ctx, "t", 2, 10, nil); !errors.Is(err, feed.ErrExpired) {
		t.Fatalf("after 2 once 3 is pruned: %v, want ErrExpired", err)
	}
}

// TestChangeLogFilterAndWait checks type filters, next_after past unmatched
// records, and that Wait returns once a matching write commits.
func TestChangeLogFilterAndWait(t *testing.T) {
	ctx := context.Background()
	s, _ := feedTenant(t)
	c := Call{TenantID: "t", BaseURL: "http://x"}
	if _, err := s.Create(ctx, c, store.KindUser, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "u"}); err != nil {
		t.Fatal(err)
	}
	f, err := feed.ParseFilter("group.*")
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.ReadChanges(ctx, "t", 0, 10, f)
	if err != nil || len(page.Changes) != 0 || page.NextAfter != 1 || page.HasMore {
		t.Fatalf("filtered read: %+v (%v), want nothing, next_after 1", page, err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait(ctx, "t", 1) }()
	if _, err := s.Create(ctx, c, store.KindGroup, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "g"}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	page, err = s.ReadChanges(ctx, "t", 1, 10, f)
	if err != nil || len(page.Changes) != 1 || page.Changes[0].Type != feed.GroupCreated {
		t.Fatalf("after the wait: %+v (%v)", page, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Wait(wctx, "t", 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a cancelled context: %v", err)
	}
}

// TestFollow checks that FollowChanges and FollowEvents deliver what was
// there, then what is written while they follow, and stop with ctx.
func TestFollow(t *testing.T) {
	ctx := context.Background()
	s, _ := feedTenant(t)
	c := Call{TenantID: "t", BaseURL: "http://x", Method: "POST", Path: "/Users"}
	if _, err := s.Create(ctx, c, store.KindUser, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "a"}); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithCancel(ctx)
	changes := make(chan feed.Change, 10)
	events := make(chan *store.Event, 10)
	done := make(chan error, 2)
	go func() {
		done <- s.FollowChanges(fctx, "t", 0, nil, true, func(ch feed.Change) error { changes <- ch; return nil })
	}()
	go func() {
		done <- s.FollowEvents(fctx, store.EventQuery{TenantID: "t"}, func(evs []*store.Event) error {
			for _, e := range evs {
				events <- e
			}
			return nil
		})
	}()
	if ch := <-changes; ch.Seq != 1 {
		t.Fatalf("first change %+v", ch)
	}
	if e := <-events; e.Path != "/Users" {
		t.Fatalf("first event %+v", e)
	}
	c.Path = "/Groups"
	if _, err := s.Create(ctx, c, store.KindGroup, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "g"}); err != nil {
		t.Fatal(err)
	}
	if ch := <-changes; ch.Seq != 2 || ch.Type != feed.GroupCreated {
		t.Fatalf("followed change %+v", ch)
	}
	if e := <-events; e.Path != "/Groups" {
		t.Fatalf("followed event %+v", e)
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("follow ended with %v", err)
		}
	}
}

// feedTenant opens a service on a fresh store with tenant "t" and a clock.
func feedTenant(t *testing.T) (*Service, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := openService(t, clock)
	if _, err := s.AddTenant(context.Background(), "t", "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	return s, clock
}

// TestFeedDocSplicedEqualsDecoded checks that the document spliced from
// stored JSON is the one built from the decoded document.
func TestFeedDocSplicedEqualsDecoded(t *testing.T) {
	ctx := context.Background()
	s, _ := feedTenant(t)
	got, err := s.Create(ctx, Call{TenantID: "t", BaseURL: "http://x"}, store.KindUser, map[string]any{
		"schemas":  []any{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"userName": "ann", "displayName": `Ann "Q" \ Ünïcode`, "active": false,
		"emails": []any{map[string]any{"type": "work", "value": "ann@x.test", "primary": true}},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "R&D"},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Read(ctx, func(tx *store.Tx) error {
		r, err := tx.Resource("t", store.KindUser, got.Doc["id"].(string))
		if err != nil {
			return err
		}
		spliced, err := feedDoc(r)
		if err != nil {
			return err
		}
		decoded, err := feedDocDecoded(r)
		if err != nil {
			return err
		}
		var a, b map[string]any
		if err := json.Unmarshal(spliced, &a); err != nil {
			t.Fatalf("spliced %s: %v", spliced, err)
		}
		if err := json.Unmarshal(decoded, &b); err != nil {
			return err
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("spliced %s\ndecoded %s", spliced, decoded)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeletingAMemberRecordsTheGroupsItLeft: deleting a user removes it
// from its groups and moves their versions (RFC 7644 §3.14), so the same
// write records, after the deletion, one group.members_changed per group it
// left, carrying the group's new version: a consumer that follows only
// groups sees the member leave, and one that replays the log ends with the
// groups a full read shows. A rolled-back delete records nothing.
func TestDeletingAMemberRecordsTheGroupsItLeft(t *testing.T) {
	ctx := context.Background()
	s, _ := feedTenant(t)
	c := Call{TenantID: "t", BaseURL: "http://x/scim/t/v2"}
	mk := func(kind store.Kind, doc map[string]any) string {
		t.Helper()
		r, err := s.Create(ctx, c, kind, doc)
		if err != nil {
			t.Fatal(err)
		}
		return r.Doc["id"].(string)
	}
	carl := mk(store.KindUser, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "carl@x.test"})
	dora := mk(store.KindUser, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "dora@x.test"})
	member := func(ids ...string) []any {
		var out []any
		for _, id := range ids {
			out = append(out, map[string]any{"value": id})
		}
		return out
	}
	ops := mk(store.KindGroup, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Ops", "members": member(carl, dora)})
	eng := mk(store.KindGroup, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Eng", "members": member(carl)})
	mk(store.KindGroup, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Sales", "members": member(dora)})
	before, err := s.ReadChanges(ctx, "t", 0, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	last := before.Changes[len(before.Changes)-1].Seq

	// A delete that fails (a stale If-Match) records nothing.
	if err := s.Delete(ctx, c, store.KindUser, carl, `W/"99"`); err == nil {
		t.Fatal("a delete with a stale If-Match succeeded")
	}
	if err := s.Delete(ctx, c, store.KindUser, carl, ""); err != nil {
		t.Fatal(err)
	}
	page, err := s.ReadChanges(ctx, "t", last, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := page.Changes
	if len(got) != 3 || got[0].Seq != last+1 || got[0].Type != feed.UserDeleted || got[0].Resource.ID != carl {
		t.Fatalf("after the delete: %+v; want user.deleted and a record for each of the 2 groups carl left", got)
	}
	left := map[string]bool{}
	for i, ch := range got[1:] {
		if ch.Seq != last+2+int64(i) || ch.Type != feed.GroupMembersChanged || !slices.Equal(ch.Removed, []string{carl}) || len(ch.Added) != 0 ||
			!slices.Equal(ch.Paths, []string{"members"}) {
			t.Fatalf("record %d: %+v; want group.members_changed removing %s", i+1, ch, carl)
		}
		left[ch.Resource.ID] = true
		var data struct{ Meta struct{ Version string } }
		if err := json.Unmarshal(ch.Data, &data); err != nil {
			t.Fatal(err)
		}
		g, err := s.Get(ctx, c, store.KindGroup, ch.Resource.ID, schema.Projection{})
		if err != nil {
			t.Fatal(err)
		}
		if v := g.Doc["meta"].(map[string]any)["version"]; data.Meta.Version != v || data.Meta.Version == "" {
			t.Errorf("group %s: the record's version %q, a read's %v", ch.Resource.DisplayName, data.Meta.Version, v)
		}
	}
	if !left[ops] || !left[eng] {
		t.Errorf("records for groups %v, want Ops and Eng (not Sales)", left)
	}
}
