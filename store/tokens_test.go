package store

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func ptime(t time.Time) *time.Time { return &t }

func TestTokens(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, "t1")
	addTenant(t, db, "t2")
	tokens := []*Token{
		{ID: "k1", TenantID: "t1", Name: "entra", Hash: []byte{1, 2, 3}, Created: t0},
		{ID: "k2", TenantID: "t1", Name: "read", Hash: []byte{4}, ReadOnly: true, Created: t0.Add(time.Hour), Expires: ptime(t0.Add(48 * time.Hour))},
		{ID: "k3", TenantID: "t2", Name: "other", Hash: []byte{5}, Created: t0.Add(2 * time.Hour)},
	}
	mustWrite(t, db, func(tx *Tx) error {
		for _, k := range tokens {
			if err := tx.InsertToken(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err := db.Write(t.Context(), func(tx *Tx) error {
		return tx.InsertToken(&Token{ID: "k1", TenantID: "t1", Hash: []byte{9}, Created: t0})
	}); !errors.Is(err, ErrConflict) {
		t.Errorf("InsertToken with a taken id: err = %v, want ErrConflict", err)
	}
	if err := db.Write(t.Context(), func(tx *Tx) error {
		return tx.InsertToken(&Token{ID: "k9", TenantID: "nope", Hash: []byte{9}, Created: t0})
	}); err == nil {
		t.Errorf("InsertToken for an unknown tenant succeeded, want a foreign key error")
	}

	list := func(tenant string) []string {
		var ids []string
		mustRead(t, db, func(tx *Tx) error {
			ks, err := tx.Tokens(tenant)
			for _, k := range ks {
				ids = append(ids, k.ID)
			}
			return err
		})
		return ids
	}
	for _, tt := range []struct {
		tenant string
		want   []string
	}{{"t1", []string{"k2", "k1"}}, {"t2", []string{"k3"}}, {"", []string{"k3", "k2", "k1"}}, {"t9", nil}} {
		if got := list(tt.tenant); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Tokens(%q) = %v, want %v (newest first)", tt.tenant, got, tt.want)
		}
	}

	mustRead(t, db, func(tx *Tx) error {
		got, err := tx.Token("k2")
		if err != nil {
			return err
		}
		want := tokens[1]
		if got.ID != want.ID || got.TenantID != want.TenantID || got.Name != want.Name || !reflect.DeepEqual(got.Hash, want.Hash) ||
			got.ReadOnly != want.ReadOnly || !got.Created.Equal(want.Created) || got.Expires == nil || !got.Expires.Equal(*want.Expires) ||
			got.Revoked != nil || got.LastUsed != nil {
			t.Errorf("Token(k2) = %+v, want %+v", got, want)
		}
		if _, err := tx.Token("nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Token(nope): err = %v, want ErrNotFound", err)
		}
		return nil
	})

	first, second := t0.Add(10*time.Hour), t0.Add(20*time.Hour)
	mustWrite(t, db, func(tx *Tx) error { return tx.RevokeToken("k1", first) })
	mustWrite(t, db, func(tx *Tx) error { return tx.RevokeToken("k1", second) })
	if err := db.Write(t.Context(), func(tx *Tx) error { return tx.RevokeToken("nope", first) }); !errors.Is(err, ErrNotFound) {
		t.Errorf("RevokeToken(nope): err = %v, want ErrNotFound", err)
	}
	used := t0.Add(5 * time.Hour)
	mustWrite(t, db, func(tx *Tx) error { return tx.TouchToken("k3", used) })
	mustRead(t, db, func(tx *Tx) error {
		k1, err := tx.Token("k1")
		if err != nil {
			return err
		}
		if k1.Revoked == nil || !k1.Revoked.Equal(first) {
			t.Errorf("k1 revoked twice: Revoked = %v, want the first time %v", k1.Revoked, first)
		}
		k3, err := tx.Token("k3")
		if err != nil {
			return err
		}
		if k3.LastUsed == nil || !k3.LastUsed.Equal(used) {
			t.Errorf("k3 LastUsed = %v, want %v", k3.LastUsed, used)
		}
		return nil
	})
}

func TestTokenActive(t *testing.T) {
	now := t0
	tests := []struct {
		name string
		k    Token
		want bool
	}{
		{"plain", Token{}, true},
		{"expires later", Token{Expires: ptime(now.Add(time.Second))}, true},
		{"expires now", Token{Expires: ptime(now)}, false},
		{"expired", Token{Expires: ptime(now.Add(-time.Second))}, false},
		{"revoked", Token{Revoked: ptime(now.Add(-time.Hour))}, false},
		{"revoked in the future still counts", Token{Revoked: ptime(now.Add(time.Hour))}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.k.Active(now); got != tt.want {
				t.Errorf("Active = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTenants(t *testing.T) {
	db := openTest(t, Options{})
	now := t0.Add(24 * time.Hour)
	mustWrite(t, db, func(tx *Tx) error {
		for i, id := range []string{"b", "a", "c"} {
			tn := &Tenant{ID: id, Name: "Tenant " + id, Created: t0.Add(time.Duration(i) * time.Minute)}
			if id == "a" {
				tn.Settings.PatchUserNoContent = true
			}
			if err := tx.InsertTenant(tn); err != nil {
				return err
			}
		}
		return nil
	})
	if err := db.Write(t.Context(), func(tx *Tx) error { return tx.InsertTenant(&Tenant{ID: "a", Name: "again"}) }); !errors.Is(err, ErrConflict) {
		t.Errorf("InsertTenant with a taken id: err = %v, want ErrConflict", err)
	}
	insert(t, db,
		newUser("a", "u1", "u1"), newUser("a", "u2", "u2"), newGroup("a", "g1", "g1"),
		newUser("b", "u1", "u1"), newGroup("b", "g1", "g1"), newGroup("b", "g2", "g2"), newGroup("b", "g3", "g3"))
	mustWrite(t, db, func(tx *Tx) error {
		for _, k := range []*Token{
			{ID: "a1", TenantID: "a", Hash: []byte{1}, Created: t0},
			{ID: "a2", TenantID: "a", Hash: []byte{1}, Created: t0, Expires: ptime(now.Add(time.Hour))},
			{ID: "a3", TenantID: "a", Hash: []byte{1}, Created: t0, Expires: ptime(now)}, // expired at now
			{ID: "a4", TenantID: "a", Hash: []byte{1}, Created: t0},
			{ID: "b1", TenantID: "b", Hash: []byte{1}, Created: t0, Expires: ptime(now.Add(-time.Hour))},
		} {
			if err := tx.InsertToken(k); err != nil {
				return err
			}
		}
		return tx.RevokeToken("a4", t0)
	})
	var got []TenantSummary
	mustRead(t, db, func(tx *Tx) (err error) {
		got, err = tx.Tenants(now)
		return err
	})
	type row struct {
		ID                          string
		Users, Groups, ActiveTokens int
		NoContent                   bool
	}
	var rows []row
	for _, s := range got {
		rows = append(rows, row{s.ID, s.Users, s.Groups, s.ActiveTokens, s.Settings.PatchUserNoContent})
	}
	want := []row{{"b", 1, 3, 0, false}, {"a", 2, 1, 2, true}, {"c", 0, 0, 0, false}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("Tenants = %+v, want %+v (by creation time)", rows, want)
	}

	mustWrite(t, db, func(tx *Tx) error {
		return tx.UpdateTenant(&Tenant{ID: "c", Name: "Renamed", Settings: TenantSettings{PatchUserNoContent: true}})
	})
	if err := db.Write(t.Context(), func(tx *Tx) error { return tx.UpdateTenant(&Tenant{ID: "zz"}) }); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateTenant(zz): err = %v, want ErrNotFound", err)
	}
	mustRead(t, db, func(tx *Tx) error {
		c, err := tx.Tenant("c")
		if err != nil {
			return err
		}
		if c.Name != "Renamed" || !c.Settings.PatchUserNoContent || !c.Created.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("Tenant(c) = %+v, want renamed with PatchUserNoContent and the original creation time", c)
		}
		if _, err := tx.Tenant("zz"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Tenant(zz): err = %v, want ErrNotFound", err)
		}
		return nil
	})
}

func TestSettings(t *testing.T) {
	db := openTest(t, Options{})
	mustRead(t, db, func(tx *Tx) error {
		if v, err := tx.Setting("k"); !errors.Is(err, ErrNotFound) || v != "" {
			t.Errorf("Setting of a missing key = %q, %v; want \"\", ErrNotFound", v, err)
		}
		return nil
	})
	for _, v := range []string{"one", "two", ""} {
		mustWrite(t, db, func(tx *Tx) error { return tx.SetSetting("k", v) })
		mustRead(t, db, func(tx *Tx) error {
			got, err := tx.Setting("k")
			if err != nil || got != v {
				t.Errorf("Setting after SetSetting(%q) = %q, %v", v, got, err)
			}
			if n, err := countRows(tx, "settings"); err != nil || n != 1 {
				t.Errorf("settings rows = %d, %v; want 1 (upsert)", n, err)
			}
			return nil
		})
	}
}

func TestEvents(t *testing.T) {
	db := openTest(t, Options{})
	type ev struct {
		tenant, name, rid string
		status            int
	}
	evs := []ev{
		{"t1", "alice@example.com", "u-1", 201},
		{"t1", "Bob@Example.com", "u-2", 409},
		{"t2", "alice@example.com", "u-9", 200},
		{"t1", "Sales Team", "g-1", 400},
		{"t1", "Émile Zola", "u-3", 201},
		{"t1", "", "u-1", 204},
		{"t2", "İlkay Gündoğan", "u-8", 500},
	}
	mustWrite(t, db, func(tx *Tx) error {
		for i, e := range evs {
			if err := tx.InsertEvent(&Event{At: t0.Add(time.Duration(i) * time.Hour), TenantID: e.tenant, TokenName: "entra",
				Method: "POST", Path: "/Users", ResourceType: "User", ResourceID: e.rid, Name: e.name, Status: e.status,
				Detail: fmt.Sprint("event ", i), Duration: 1500 * time.Microsecond}); err != nil {
				return err
			}
		}
		return nil
	})
	// names returns the indexes of evs that the events are, by Detail.
	idx := func(es []*Event) []int {
		var out []int
		for _, e := range es {
			var i int
			fmt.Sscanf(e.Detail, "event %d", &i)
			out = append(out, i)
		}
		return out
	}
	tests := []struct {
		name string
		q    EventQuery
		want []int
	}{
		{"all", EventQuery{}, []int{0, 1, 2, 3, 4, 5, 6}},
		{"tenant", EventQuery{TenantID: "t2"}, []int{2, 6}},
		{"name substring", EventQuery{Name: "alice"}, []int{0, 2}},
		{"name case-insensitive", EventQuery{Name: "BOB@example"}, []int{1}},
		{"name by resource id", EventQuery{Name: "u-1"}, []int{0, 5}},
		{"name non-ASCII lower in query", EventQuery{Name: "émile"}, []int{4}},
		{"name non-ASCII upper in query", EventQuery{Name: "ÉMILE ZOLA"}, []int{4}},
		{"name non-ASCII exact", EventQuery{Name: "Émile"}, []int{4}},
		{"name Turkish capital", EventQuery{Name: "gündoğan"}, []int{6}},
		{"since", EventQuery{Since: t0.Add(4 * time.Hour)}, []int{4, 5, 6}},
		{"failed", EventQuery{Failed: true}, []int{1, 3, 6}},
		{"limit keeps the newest, oldest first", EventQuery{Limit: 3}, []int{4, 5, 6}},
		{"combined", EventQuery{TenantID: "t1", Failed: true, Limit: 1}, []int{3}},
		{"no match", EventQuery{Name: "nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []*Event
			mustRead(t, db, func(tx *Tx) (err error) {
				got, err = tx.Events(tt.q)
				return err
			})
			if g := idx(got); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("Events(%+v) = %v, want %v", tt.q, g, tt.want)
			}
		})
	}
	t.Run("fields", func(t *testing.T) {
		var got []*Event
		mustRead(t, db, func(tx *Tx) (err error) {
			got, err = tx.Events(EventQuery{Name: "Bob"})
			return err
		})
		if len(got) != 1 {
			t.Fatalf("got %d events, want 1", len(got))
		}
		e := got[0]
		if !e.At.Equal(t0.Add(time.Hour)) || e.TenantID != "t1" || e.TokenName != "entra" || e.Method != "POST" || e.Path != "/Users" ||
			e.ResourceType != "User" || e.ResourceID != "u-2" || e.Status != 409 || e.Duration != 1500*time.Microsecond || e.Seq <= 0 {
			t.Errorf("event = %+v", e)
		}
	})
	t.Run("prune", func(t *testing.T) {
		var n int64
		mustWrite(t, db, func(tx *Tx) (err error) {
			n, err = tx.PruneEvents(t0.Add(2 * time.Hour))
			return err
		})
		if n != 2 {
			t.Errorf("PruneEvents removed %d, want 2", n)
		}
		var got []*Event
		mustRead(t, db, func(tx *Tx) (err error) {
			got, err = tx.Events(EventQuery{})
			return err
		})
		if g, want := idx(got), []int{2, 3, 4, 5, 6}; !reflect.DeepEqual(g, want) {
			t.Errorf("events after prune = %v, want %v", g, want)
		}
	})
}
