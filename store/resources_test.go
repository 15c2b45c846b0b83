package store

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestResourceRoundTrip(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, "t1")
	paris := time.FixedZone("CEST", 2*3600)
	created := time.Date(2024, 5, 6, 7, 8, 9, 123456789, paris)
	doc := map[string]any{
		"userName":    "Ada@Example.com",
		"displayName": "Ada Lovelace",
		"active":      true,
		"emails":      []any{map[string]any{"type": "work", "value": "ada@example.com", "primary": true}},
		"name":        map[string]any{"givenName": "Ada", "familyName": "Lovelace"},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "Engines", "employeeNumber": "1815"},
	}
	r := &Resource{TenantID: "t1", Kind: KindUser, ID: "u-ada", Doc: doc, Created: created, Modified: created}
	mustWrite(t, db, func(tx *Tx) error { return tx.InsertResource(r) })
	if r.Seq <= 0 {
		t.Errorf("Seq after insert = %d, want > 0", r.Seq)
	}
	if r.Version != 1 {
		t.Errorf("Version after insert with 0 = %d, want 1", r.Version)
	}

	check := func(step string, want *Resource) {
		t.Helper()
		mustRead(t, db, func(tx *Tx) error {
			got, err := tx.Resource("t1", KindUser, "u-ada")
			if err != nil {
				t.Errorf("%s: Resource: %v", step, err)
				return nil
			}
			if got.Seq != want.Seq || got.TenantID != want.TenantID || got.Kind != want.Kind || got.ID != want.ID || got.Version != want.Version {
				t.Errorf("%s: got %+v, want %+v", step, got, want)
			}
			if !got.Created.Equal(want.Created) || got.Created.Location() != time.UTC {
				t.Errorf("%s: Created = %v, want %v in UTC", step, got.Created, want.Created)
			}
			if !got.Modified.Equal(want.Modified) {
				t.Errorf("%s: Modified = %v, want %v", step, got.Modified, want.Modified)
			}
			if !reflect.DeepEqual(got.Doc, want.Doc) {
				t.Errorf("%s: Doc = %#v, want %#v", step, got.Doc, want.Doc)
			}
			return nil
		})
	}
	check("after insert", r)

	modified := created.Add(90 * time.Minute)
	updated := *r
	updated.Doc = map[string]any{"userName": "ada.lovelace@example.com", "active": false}
	updated.Version, updated.Modified = 2, modified
	mustWrite(t, db, func(tx *Tx) error { return tx.UpdateResource(&updated) })
	check("after update", &updated)

	touched := updated
	touched.Version, touched.Modified = 3, modified.Add(time.Second)
	mustWrite(t, db, func(tx *Tx) error { return tx.TouchResource(touched.Seq, touched.Version, touched.Modified) })
	check("after touch", &touched)

	mustRead(t, db, func(tx *Tx) error {
		// The old name is free again, the new one is indexed.
		if n, err := tx.CountResources("t1", KindUser); err != nil || n != 1 {
			t.Errorf("CountResources = %d, %v; want 1", n, err)
		}
		return nil
	})

	mustWrite(t, db, func(tx *Tx) error { return tx.DeleteResource("t1", KindUser, "u-ada", time.Now()) })
	err := db.Read(t.Context(), func(tx *Tx) error {
		_, err := tx.Resource("t1", KindUser, "u-ada")
		return err
	})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Resource after delete: err = %v, want ErrNotFound", err)
	}
	for name, fn := range map[string]func(tx *Tx) error{
		"DeleteResource again": func(tx *Tx) error { return tx.DeleteResource("t1", KindUser, "u-ada", time.Now()) },
		"UpdateResource":       func(tx *Tx) error { return tx.UpdateResource(&touched) },
		"Resource of a group":  func(tx *Tx) error { _, err := tx.Resource("t1", KindGroup, "u-ada"); return err },
	} {
		if err := db.Write(t.Context(), fn); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", name, err)
		}
	}
}

func TestResourceNameUniqueness(t *testing.T) {
	tests := []struct {
		name     string
		existing *Resource
		add      *Resource
		conflict bool
	}{
		{"userName differing in case", newUser("t1", "u1", "Alice@Example.com"), newUser("t1", "u2", "alice@example.COM"), true},
		{"userName identical", newUser("t1", "u1", "alice@example.com"), newUser("t1", "u2", "alice@example.com"), true},
		{"userName non-ASCII case", newUser("t1", "u1", "Émile@example.com"), newUser("t1", "u2", "émile@example.com"), true},
		// Greek capital sigma lower-cases to σ, but a word ends in ς: the same
		// name in two cases, equal under any case-insensitive comparison
		// (strings.EqualFold, Unicode case folding, filter.Match).
		{"userName Greek final sigma", newUser("t1", "u1", "Νίκος@example.gr"), newUser("t1", "u2", "ΝΊΚΟΣ@example.gr"), true},
		{"group displayName Greek final sigma", newGroup("t1", "g1", "Οδυσσέας"), newGroup("t1", "g2", "ΟΔΥΣΣΈΑΣ"), true},
		{"userName in another tenant", newUser("t1", "u1", "alice@example.com"), newUser("t2", "u2", "ALICE@example.com"), false},
		{"different userName", newUser("t1", "u1", "alice@example.com"), newUser("t1", "u2", "alice2@example.com"), false},
		{"group displayName differing in case", newGroup("t1", "g1", "Sales"), newGroup("t1", "g2", "SALES"), true},
		{"group displayName in another tenant", newGroup("t1", "g1", "Sales"), newGroup("t2", "g2", "sales"), false},
		{"user and group share a name", newUser("t1", "u1", "sales"), newGroup("t1", "g1", "Sales"), false},
		{"user displayName is not unique", func() *Resource {
			r := newUser("t1", "u1", "a@example.com")
			r.Doc["displayName"] = "Same"
			return r
		}(), func() *Resource {
			r := newUser("t1", "u2", "b@example.com")
			r.Doc["displayName"] = "Same"
			return r
		}(), false},
		{"same id in the tenant", newUser("t1", "u1", "a@example.com"), newUser("t1", "u1", "b@example.com"), true},
		{"same id in another tenant", newUser("t1", "u1", "a@example.com"), newUser("t2", "u1", "b@example.com"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTest(t, Options{})
			addTenant(t, db, "t1")
			addTenant(t, db, "t2")
			insert(t, db, tt.existing)
			err := db.Write(t.Context(), func(tx *Tx) error { return tx.InsertResource(tt.add) })
			if got := errors.Is(err, ErrConflict); got != tt.conflict {
				t.Errorf("InsertResource err = %v; errors.Is(err, ErrConflict) = %v, want %v", err, got, tt.conflict)
			}
			if !tt.conflict && err != nil {
				t.Errorf("InsertResource err = %v, want nil", err)
			}
		})
	}
}

func TestUpdateResourceNameConflict(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, "t1")
	a, b := newUser("t1", "a", "a@example.com"), newUser("t1", "b", "b@example.com")
	insert(t, db, a, b)

	renamed := *b
	renamed.Doc = map[string]any{"userName": "A@EXAMPLE.COM"}
	renamed.Version = 2
	if err := db.Write(t.Context(), func(tx *Tx) error { return tx.UpdateResource(&renamed) }); !errors.Is(err, ErrConflict) {
		t.Errorf("rename b to a's userName: err = %v, want ErrConflict", err)
	}
	recased := *a
	recased.Doc = map[string]any{"userName": "A@Example.COM"}
	recased.Version = 2
	if err := db.Write(t.Context(), func(tx *Tx) error { return tx.UpdateResource(&recased) }); err != nil {
		t.Errorf("change the case of a's own userName: err = %v, want nil", err)
	}
}

func TestResourceRequiresName(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, "t1")
	tests := []struct {
		name string
		r    *Resource
	}{
		{"user without userName", &Resource{TenantID: "t1", Kind: KindUser, ID: "u", Doc: map[string]any{"displayName": "x"}}},
		{"user with empty userName", &Resource{TenantID: "t1", Kind: KindUser, ID: "u", Doc: map[string]any{"userName": ""}}},
		{"group without displayName", &Resource{TenantID: "t1", Kind: KindGroup, ID: "g", Doc: map[string]any{"userName": "x"}}},
		{"unknown kind", &Resource{TenantID: "t1", Kind: "Device", ID: "d", Doc: map[string]any{"userName": "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.Write(t.Context(), func(tx *Tx) error { return tx.InsertResource(tt.r) })
			if err == nil || errors.Is(err, ErrConflict) {
				t.Errorf("InsertResource = %v, want a validation error", err)
			}
		})
	}
}

func membersOf(t *testing.T, db *DB, seq int64) []Member {
	t.Helper()
	var ms []Member
	mustRead(t, db, func(tx *Tx) (err error) {
		ms, err = tx.Members(seq)
		return err
	})
	return ms
}

func memberRowsOf(t *testing.T, db *DB, seq int64) int {
	t.Helper()
	var n int
	mustRead(t, db, func(tx *Tx) error {
		return tx.queryRow(`SELECT count(*) FROM members WHERE group_seq = ?`, seq).Scan(&n)
	})
	return n
}

func TestDeleteResourceRemovesMemberships(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, "t1")
	addTenant(t, db, "t2")
	u1, u2 := newUser("t1", "u1", "u1@example.com"), newUser("t1", "u2", "u2@example.com")
	g1, g2 := newGroup("t1", "g1", "One"), newGroup("t1", "g2", "Two")
	// Tenant t2 has resources with the same ids: deleting t1's must not touch them.
	x1, xg := newUser("t2", "u1", "u1@example.com"), newGroup("t2", "g1", "One")
	insert(t, db, u1, u2, g1, g2, x1, xg)
	mustWrite(t, db, func(tx *Tx) error {
		if _, err := tx.AddMembers("t1", g1.Seq, []Member{{"u1", KindUser}, {"u2", KindUser}, {"g2", KindGroup}}); err != nil {
			return err
		}
		if _, err := tx.AddMembers("t1", g2.Seq, []Member{{"u1", KindUser}}); err != nil {
			return err
		}
		_, err := tx.AddMembers("t2", xg.Seq, []Member{{"u1", KindUser}})
		return err
	})

	// versions reads the version and lastModified of groups.
	versions := func(rs ...*Resource) []string {
		var out []string
		mustRead(t, db, func(tx *Tx) error {
			for _, r := range rs {
				got, err := tx.Resource(r.TenantID, KindGroup, r.ID)
				if err != nil {
					return err
				}
				out = append(out, fmt.Sprintf("%s/%s v%d %s", r.TenantID, r.ID, got.Version, got.Modified.Format(time.RFC3339)))
			}
			return nil
		})
		return out
	}
	del1, del2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
	at := func(tm time.Time) string { return tm.Format(time.RFC3339) }

	mustWrite(t, db, func(tx *Tx) error { return tx.DeleteResource("t1", KindUser, "u1", del1) })
	// The groups u1 leaves change (version and lastModified, RFC 7644 §3.14); t2's does not.
	if got, want := versions(g1, g2, xg), []string{"t1/g1 v2 " + at(del1), "t1/g2 v2 " + at(del1), "t2/g1 v1 " + at(t0)}; !reflect.DeepEqual(got, want) {
		t.Errorf("group versions after deleting u1 = %v, want %v", got, want)
	}
	if got, want := membersOf(t, db, g1.Seq), []Member{{"g2", KindGroup}, {"u2", KindUser}}; !reflect.DeepEqual(got, want) {
		t.Errorf("g1 members after deleting u1 = %v, want %v", got, want)
	}
	if got := membersOf(t, db, g2.Seq); len(got) != 0 {
		t.Errorf("g2 members after deleting u1 = %v, want none", got)
	}
	if got, want := membersOf(t, db, xg.Seq), []Member{{"u1", KindUser}}; !reflect.DeepEqual(got, want) {
		t.Errorf("t2's group members after deleting t1's u1 = %v, want %v", got, want)
	}

	mustWrite(t, db, func(tx *Tx) error {
		_, err := tx.AddMembers("t1", g2.Seq, []Member{{"u2", KindUser}})
		return err
	})
	mustWrite(t, db, func(tx *Tx) error { return tx.DeleteResource("t1", KindGroup, "g2", del2) })
	if got, want := versions(g1, xg), []string{"t1/g1 v3 " + at(del2), "t2/g1 v1 " + at(t0)}; !reflect.DeepEqual(got, want) {
		t.Errorf("group versions after deleting g2 = %v, want %v", got, want)
	}
	if got, want := membersOf(t, db, g1.Seq), []Member{{"u2", KindUser}}; !reflect.DeepEqual(got, want) {
		t.Errorf("g1 members after deleting g2 = %v, want %v", got, want)
	}
	if n := memberRowsOf(t, db, g2.Seq); n != 0 {
		t.Errorf("member rows of the deleted group g2 = %d, want 0 (ON DELETE CASCADE)", n)
	}
	var groups map[string][]GroupRef
	mustRead(t, db, func(tx *Tx) (err error) {
		groups, err = tx.GroupsOf("t1", []string{"u2"})
		return err
	})
	if got, want := groups["u2"], []GroupRef{{"g1", "One"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("GroupsOf(u2) = %v, want %v", got, want)
	}
}

func TestMembers(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, "t1")
	addTenant(t, db, "t2")
	g := newGroup("t1", "g", "Group")
	insert(t, db, g, newUser("t1", "u1", "u1"), newUser("t1", "u2", "u2"), newUser("t1", "u3", "u3"), newUser("t1", "u4", "u4"))

	steps := []struct {
		name  string
		do    func(tx *Tx) (int, error)
		n     int
		after []string
	}{
		{"add two", func(tx *Tx) (int, error) {
			return tx.AddMembers("t1", g.Seq, []Member{{"u2", KindUser}, {"u1", KindUser}})
		}, 2, []string{"u1", "u2"}},
		{"add one new one old", func(tx *Tx) (int, error) {
			return tx.AddMembers("t1", g.Seq, []Member{{"u2", KindUser}, {"u3", KindUser}})
		}, 1, []string{"u1", "u2", "u3"}},
		{"add again", func(tx *Tx) (int, error) { return tx.AddMembers("t1", g.Seq, []Member{{"u1", KindUser}}) }, 0, []string{"u1", "u2", "u3"}},
		{"add twice in one call", func(tx *Tx) (int, error) {
			return tx.AddMembers("t1", g.Seq, []Member{{"u4", KindUser}, {"u4", KindUser}})
		}, 1, []string{"u1", "u2", "u3", "u4"}},
		{"remove listed and unknown", func(tx *Tx) (int, error) { return tx.RemoveMembers(g.Seq, []string{"u2", "nope", "u4"}) }, 2, []string{"u1", "u3"}},
		{"remove again", func(tx *Tx) (int, error) { return tx.RemoveMembers(g.Seq, []string{"u2"}) }, 0, []string{"u1", "u3"}},
		{"remove none", func(tx *Tx) (int, error) { return tx.RemoveMembers(g.Seq, nil) }, 0, []string{"u1", "u3"}},
		{"remove all", func(tx *Tx) (int, error) { return tx.RemoveAllMembers(g.Seq) }, 2, nil},
		{"remove all of empty", func(tx *Tx) (int, error) { return tx.RemoveAllMembers(g.Seq) }, 0, nil},
	}
	for _, s := range steps {
		var n int
		mustWrite(t, db, func(tx *Tx) (err error) {
			n, err = s.do(tx)
			return err
		})
		if n != s.n {
			t.Errorf("%s: count = %d, want %d", s.name, n, s.n)
		}
		var got []string
		for _, m := range membersOf(t, db, g.Seq) {
			got = append(got, m.Value)
			if m.Type != KindUser {
				t.Errorf("%s: member %s type = %q, want User", s.name, m.Value, m.Type)
			}
		}
		if !reflect.DeepEqual(got, s.after) {
			t.Errorf("%s: members = %v, want %v", s.name, got, s.after)
		}
	}
}

func TestMemberKinds(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, "t1")
	addTenant(t, db, "t2")
	insert(t, db, newUser("t1", "u1", "u1"), newGroup("t1", "g1", "g1"), newUser("t2", "x1", "x1"), newGroup("t2", "xg", "xg"))
	tests := []struct {
		name string
		ids  []string
		want map[string]Kind
	}{
		{"user and group", []string{"u1", "g1"}, map[string]Kind{"u1": KindUser, "g1": KindGroup}},
		{"unknown", []string{"nope"}, map[string]Kind{}},
		{"other tenant is unknown", []string{"x1", "xg", "u1"}, map[string]Kind{"u1": KindUser}},
		{"duplicates", []string{"u1", "u1", "g1"}, map[string]Kind{"u1": KindUser, "g1": KindGroup}},
		{"ids are case-exact", []string{"U1", "G1"}, map[string]Kind{}},
		{"none", nil, map[string]Kind{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string]Kind
			mustRead(t, db, func(tx *Tx) (err error) {
				got, err = tx.MemberKinds("t1", tt.ids)
				return err
			})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("MemberKinds(%v) = %v, want %v", tt.ids, got, tt.want)
			}
		})
	}
}

func TestGroupsOf(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, "t1")
	addTenant(t, db, "t2")
	beta, alpha, gamma := newGroup("t1", "gb", "beta"), newGroup("t1", "ga", "Alpha"), newGroup("t1", "gc", "Gamma")
	other := newGroup("t2", "gx", "Other tenant")
	insert(t, db, newUser("t1", "u1", "u1"), newUser("t1", "u2", "u2"), beta, alpha, gamma, other)
	mustWrite(t, db, func(tx *Tx) error {
		for _, a := range []struct {
			tenant string
			g      *Resource
			ms     []Member
		}{
			{"t1", beta, []Member{{"u1", KindUser}}},
			{"t1", alpha, []Member{{"u1", KindUser}, {"u2", KindUser}, {"gc", KindGroup}}},
			{"t1", gamma, []Member{{"u2", KindUser}}},
			{"t2", other, []Member{{"u1", KindUser}}},
		} {
			if _, err := tx.AddMembers(a.tenant, a.g.Seq, a.ms); err != nil {
				return err
			}
		}
		return nil
	})
	var got map[string][]GroupRef
	mustRead(t, db, func(tx *Tx) (err error) {
		got, err = tx.GroupsOf("t1", []string{"u1", "u2", "gc", "nobody"})
		return err
	})
	want := map[string][]GroupRef{
		"u1": {{"ga", "Alpha"}, {"gb", "beta"}},
		"u2": {{"ga", "Alpha"}, {"gc", "Gamma"}},
		"gc": {{"ga", "Alpha"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GroupsOf = %v, want %v", fmt.Sprint(got), fmt.Sprint(want))
	}
}
