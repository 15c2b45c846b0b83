package store

import (
	"testing"
	"time"
)

func TestCountEventAndOutcome(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, "t1")
	ev := func(status int, outcome, detail string) *Event {
		return &Event{At: t0, TenantID: "t1", Method: "GET", Path: "/scim/t1/v2/Users", Status: status, Outcome: outcome, Detail: detail}
	}
	mustWrite(t, db, func(tx *Tx) error {
		for range 5 {
			if err := tx.CountEvent(ev(401, "", "from 192.0.2.1"), "t1|192.0.2.1|1"); err != nil {
				return err
			}
		}
		if err := tx.CountEvent(ev(401, "", "from 192.0.2.2"), "t1|192.0.2.2|1"); err != nil {
			return err
		}
		if err := tx.InsertEvent(ev(499, OutcomeCancelled, "client went away")); err != nil {
			return err
		}
		return tx.InsertEvent(ev(201, "", ""))
	})
	var all, failed []*Event
	mustRead(t, db, func(tx *Tx) (err error) {
		if all, err = tx.Events(EventQuery{}); err != nil {
			return err
		}
		failed, err = tx.Events(EventQuery{Failed: true})
		return err
	})
	if len(all) != 4 {
		t.Fatalf("got %d events, want 4 (5 counted failures are one row)", len(all))
	}
	if got := [4]int{all[0].Count, all[1].Count, all[2].Count, all[3].Count}; got != [4]int{5, 1, 1, 1} {
		t.Errorf("counts: got %v, want [5 1 1 1]", got)
	}
	if all[0].Detail != "from 192.0.2.1" || all[2].Outcome != OutcomeCancelled {
		t.Errorf("events: got %+v", all)
	}
	if len(failed) != 2 {
		t.Errorf("failed events: got %d, want the 2 counted 401s (a cancelled request is not a failure)", len(failed))
	}
	for _, e := range failed {
		if !e.Failed() {
			t.Errorf("Failed() false for %+v", e)
		}
	}
	mustWrite(t, db, func(tx *Tx) error {
		n, err := tx.PruneEvents(t0.Add(time.Second))
		if n != 4 {
			t.Errorf("pruned %d, want 4", n)
		}
		return err
	})
}
