package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fillTenant gives a tenant one of everything it can own.
func fillTenant(t *testing.T, db *DB, id string) {
	t.Helper()
	addTenant(t, db, id)
	u, g := newUser(id, "u1", "alice@"+id), newGroup(id, "g1", "staff")
	insert(t, db, u, g)
	mustWrite(t, db, func(tx *Tx) error {
		if _, err := tx.AddMembers(id, g.Seq, []Member{{"u1", KindUser}}); err != nil {
			return err
		}
		if err := tx.InsertToken(&Token{ID: "tok-" + id, TenantID: id, Name: "entra", Hash: []byte("h"), Created: t0}); err != nil {
			return err
		}
		if err := tx.InsertDomain(&Domain{TenantID: id, Domain: id + ".example", RecordName: "_roster-challenge." + id + ".example",
			Value: "v", Status: DomainPending, Created: t0, WindowStart: t0}); err != nil {
			return err
		}
		return tx.InsertEvent(&Event{At: t0, TenantID: id, Method: "POST", Path: "/Users", Status: 201})
	})
}

// tenantRows counts what the tenant owns, table by table.
func tenantRows(t *testing.T, db *DB, id string) map[string]int {
	t.Helper()
	got := map[string]int{}
	mustRead(t, db, func(tx *Tx) error {
		for _, table := range []string{"tenants WHERE id = ?", "resources WHERE tenant_id = ?", "members WHERE tenant_id = ?",
			"tokens WHERE tenant_id = ?", "domains WHERE tenant_id = ?", "events WHERE tenant_id = ?"} {
			var n int
			if err := tx.queryRow(`SELECT count(*) FROM `+table, id).Scan(&n); err != nil {
				return err
			}
			got[table] = n
		}
		return nil
	})
	return got
}

func TestDeleteTenant(t *testing.T) {
	db := openTest(t, Options{})
	fillTenant(t, db, "gone")
	fillTenant(t, db, "kept")
	mustWrite(t, db, func(tx *Tx) error { return tx.DeleteTenant("gone") })
	for table, n := range tenantRows(t, db, "gone") {
		if n != 0 {
			t.Errorf("after DeleteTenant: %d rows left in %s", n, table)
		}
	}
	want := map[string]int{"resources WHERE tenant_id = ?": 2}
	for table, n := range tenantRows(t, db, "kept") {
		w := want[table]
		if w == 0 {
			w = 1
		}
		if n != w {
			t.Errorf("other tenant: %s has %d rows, want %d", table, n, w)
		}
	}
	err := db.Write(context.Background(), func(tx *Tx) error { return tx.DeleteTenant("gone") })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteTenant(unknown) = %v, want ErrNotFound", err)
	}
}

func TestOpenMustExist(t *testing.T) {
	sqliteOnly(t, "MustExist checks the file; TestPostgresMustExist covers PostgreSQL")
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "typo", "roster.db")
	_, err := Open(ctx, missing, Options{MustExist: true})
	if !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("Open(missing, MustExist) = %v, want ErrNoDatabase", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(MustExist) created the directory: %v", err)
	}
	path := filepath.Join(t.TempDir(), "roster.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	addTenant(t, db, "t1")
	db.Close()
	db, err = Open(ctx, path, Options{MustExist: true})
	if err != nil {
		t.Fatalf("Open(existing, MustExist) = %v", err)
	}
	defer db.Close()
	mustRead(t, db, func(tx *Tx) error { _, err := tx.Tenant("t1"); return err })
}

func TestCountEventsAndExcludeTokens(t *testing.T) {
	db := openTest(t, Options{})
	evs := []*Event{
		{At: t0, TenantID: "t1", TokenName: "entra", Method: "GET", Path: "/Users", Status: 200},
		{At: t0.Add(time.Hour), TenantID: "t1", TokenName: "", Method: "GET", Path: "/Users", Status: 401},
		{At: t0.Add(2 * time.Hour), TenantID: "t1", TokenName: "hr-app", Method: "POST", Path: "/Users", Status: 409},
		{At: t0.Add(3 * time.Hour), TenantID: "t2", TokenName: "entra", Method: "GET", Path: "/Users", Status: 500},
	}
	mustWrite(t, db, func(tx *Tx) error {
		for _, e := range evs {
			if err := tx.InsertEvent(e); err != nil {
				return err
			}
		}
		return nil
	})
	tests := []struct {
		name      string
		q         EventQuery
		count     int
		newestIdx int
	}{
		{"all", EventQuery{}, 4, 3},
		{"tenant", EventQuery{TenantID: "t1"}, 3, 2},
		{"without the app", EventQuery{TenantID: "t1", ExcludeTokens: []string{"hr-app"}}, 2, 1},
		{"without two", EventQuery{TenantID: "t1", ExcludeTokens: []string{"hr-app", ""}}, 1, 0},
		{"failed since", EventQuery{TenantID: "t1", Failed: true, Since: t0.Add(90 * time.Minute)}, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustRead(t, db, func(tx *Tx) error {
				n, err := tx.CountEvents(tt.q)
				if err != nil {
					return err
				}
				if n != tt.count {
					t.Errorf("CountEvents = %d, want %d", n, tt.count)
				}
				q := tt.q
				q.Limit = 1
				got, err := tx.Events(q)
				if err != nil {
					return err
				}
				if len(got) != 1 || !got[0].At.Equal(evs[tt.newestIdx].At) {
					t.Errorf("newest event = %+v, want the one at %v", got, evs[tt.newestIdx].At)
				}
				return nil
			})
		})
	}
}
