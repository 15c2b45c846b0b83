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
