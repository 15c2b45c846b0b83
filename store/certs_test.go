package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestCertData(t *testing.T) {
	db := openTest(t, Options{})
	mustWrite(t, db, func(tx *Tx) error {
		for _, k := range []string{"a/b/c.crt", "a/b/c.key", "a/d", "ab/e", "a_b/f", "A/g"} {
			if err := tx.PutCertData(k, []byte("value of "+k), t0); err != nil {
				return err
			}
		}
		return tx.PutCertData("a/d", []byte("new"), t0.Add(time.Second)) // replaces
	})
	mustRead(t, db, func(tx *Tx) error {
		v, mod, err := tx.CertData("a/d")
		if err != nil || string(v) != "new" || !mod.Equal(t0.Add(time.Second)) {
			t.Errorf("CertData(a/d) = %q, %v, %v; want new, %v", v, mod, err, t0.Add(time.Second))
		}
		if _, _, err := tx.CertData("a"); !errors.Is(err, ErrNotFound) {
			t.Errorf("CertData of a directory: %v, want ErrNotFound", err)
		}
		if size, _, err := tx.CertDataInfo("a/b/c.crt"); err != nil || size != int64(len("value of a/b/c.crt")) {
			t.Errorf("CertDataInfo = %d, %v", size, err)
		}
		if _, _, err := tx.CertDataInfo("nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("CertDataInfo(nope): %v, want ErrNotFound", err)
		}
		for prefix, want := range map[string][]string{
			"a":   {"a/b/c.crt", "a/b/c.key", "a/d"}, // neither ab/ nor a_b/ nor A/
			"a/b": {"a/b/c.crt", "a/b/c.key"},
			"":    {"A/g", "a/b/c.crt", "a/b/c.key", "a/d", "a_b/f", "ab/e"},
			"a/d": nil,
			"x":   nil,
		} {
			got, err := tx.CertDataKeys(prefix)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("CertDataKeys(%q) = %q, %v; want %q", prefix, got, err, want)
			}
		}
		return nil
	})
	mustWrite(t, db, func(tx *Tx) error { return tx.DeleteCertData("a") })
	mustWrite(t, db, func(tx *Tx) error { return tx.DeleteCertData("missing") })
	mustRead(t, db, func(tx *Tx) error {
		got, err := tx.CertDataKeys("")
		if want := []string{"A/g", "a_b/f", "ab/e"}; err != nil || !slices.Equal(got, want) {
			t.Errorf("after deleting a: keys %q, %v; want %q", got, err, want)
		}
		return nil
	})
	// An empty value is a value.
	mustWrite(t, db, func(tx *Tx) error { return tx.PutCertData("empty", nil, t0) })
	mustRead(t, db, func(tx *Tx) error {
		if v, _, err := tx.CertData("empty"); err != nil || v == nil || len(v) != 0 {
			t.Errorf("CertData(empty) = %#v, %v", v, err)
		}
		return nil
	})
}

func TestCertLock(t *testing.T) {
	db := openTest(t, Options{})
	now := t0
	lock := func(name, owner string, at time.Time) bool {
		t.Helper()
		var ok bool
		mustWrite(t, db, func(tx *Tx) (err error) { ok, err = tx.AcquireCertLock(name, owner, at, at.Add(time.Minute)); return })
		return ok
	}
	if !lock("issue", "A", now) {
		t.Fatal("A did not get a free lock")
	}
	if lock("issue", "B", now.Add(30*time.Second)) {
		t.Fatal("B took A's lock before it expired")
	}
	if lock("issue", "A", now.Add(30*time.Second)) {
		t.Fatal("a second acquisition by the same owner succeeded; locks are not reentrant")
	}
	if !lock("other", "B", now) {
		t.Fatal("B did not get another free lock")
	}
	var ok bool
	// A keeps its lock alive.
	mustWrite(t, db, func(tx *Tx) (err error) { ok, err = tx.ExtendCertLock("issue", "A", now.Add(2*time.Minute)); return })
	if !ok {
		t.Fatal("A could not extend its lock")
	}
	if lock("issue", "B", now.Add(90*time.Second)) {
		t.Fatal("B took A's extended lock")
	}
	mustWrite(t, db, func(tx *Tx) (err error) { ok, err = tx.ExtendCertLock("issue", "B", now.Add(5*time.Minute)); return })
	if ok {
		t.Fatal("B extended A's lock")
	}
	mustWrite(t, db, func(tx *Tx) (err error) { ok, err = tx.ReleaseCertLock("issue", "B"); return })
	if ok {
		t.Fatal("B released A's lock")
	}
	// A stops extending it (it died): it expires, and B takes it over.
	if !lock("issue", "B", now.Add(2*time.Minute)) {
		t.Fatal("B did not take over the expired lock")
	}
	mustWrite(t, db, func(tx *Tx) (err error) { ok, err = tx.ReleaseCertLock("issue", "A"); return })
	if ok {
		t.Fatal("A released the lock B took over")
	}
	mustWrite(t, db, func(tx *Tx) (err error) { ok, err = tx.ReleaseCertLock("issue", "B"); return })
	if !ok {
		t.Fatal("B could not release its lock")
	}
	if !lock("issue", "C", now.Add(2*time.Minute)) {
		t.Fatal("C did not get the released lock")
	}
}
