package store

import (
	"context"
	"testing"
	"time"
)

// openTest opens a fresh store of the backend under test (backends_test.go):
// a file in t.TempDir(), or a new PostgreSQL database; it is closed when the
// test ends.
func openTest(t testing.TB, opt Options) *DB {
	t.Helper()
	db, err := Open(context.Background(), testLocation(t), opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// mustWrite runs fn in a write transaction and fails the test on error.
func mustWrite(t testing.TB, db *DB, fn func(*Tx) error) {
	t.Helper()
	if err := db.Write(context.Background(), fn); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// mustRead runs fn in a read transaction and fails the test on error.
func mustRead(t testing.TB, db *DB, fn func(*Tx) error) {
	t.Helper()
	if err := db.Read(context.Background(), fn); err != nil {
		t.Fatalf("Read: %v", err)
	}
}

// t0 is the base time of the fixtures.
var t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// addTenant inserts a tenant.
func addTenant(t testing.TB, db *DB, id string) {
	t.Helper()
	mustWrite(t, db, func(tx *Tx) error {
		return tx.InsertTenant(&Tenant{ID: id, Name: "Tenant " + id, Created: t0})
	})
}

func newUser(tenant, id, userName string) *Resource {
	return &Resource{TenantID: tenant, Kind: KindUser, ID: id, Doc: map[string]any{"userName": userName},
		Created: t0, Modified: t0, Version: 1}
}

func newGroup(tenant, id, displayName string) *Resource {
	return &Resource{TenantID: tenant, Kind: KindGroup, ID: id, Doc: map[string]any{"displayName": displayName},
		Created: t0, Modified: t0, Version: 1}
}

// insert stores resources in one write and returns them with Seq set.
func insert(t testing.TB, db *DB, rs ...*Resource) {
	t.Helper()
	mustWrite(t, db, func(tx *Tx) error {
		for _, r := range rs {
			if err := tx.InsertResource(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// countRows returns how many rows table holds (table is a fixed name from the test).
func countRows(tx *Tx, table string) (int, error) {
	var n int
	err := tx.queryRow(`SELECT count(*) FROM ` + table).Scan(&n)
	return n, err
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20 s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
