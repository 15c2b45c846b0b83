package scimhttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

// TestFailedAuthFlood: wrong tokens from 200 rotating addresses, 25 each.
// Before issue 12 every one of the 4,000 failures the per-address limit let
// through was a row of its own. Now the global budget refuses all but 200
// of them (429, not stored), and those are counted per address and minute:
// at most one row per address, the counts adding up to the 401s answered.
func TestFailedAuthFlood(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clock := newFakeClock()
	dir := directory.New(db, nil, clock.Now)
	if _, err := dir.AddTenant(ctx, "acme", "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	h := scimhttp.New(dir, scimhttp.Options{Limits: scimhttp.DefaultLimits(),
		ClientAddr: func(r *http.Request) string { return r.Header.Get("X-Test-Client") }})
	scimhttp.SetClock(h, clock.Now)
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := scimhttp.TenantURL(srv.URL, "acme")

	const addrs, each = 200, 25
	var mu sync.Mutex
	answers := map[int]int{}
	per401 := map[string]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(base, "roster_0123456789abcdef_wrongwrongwrongwrongwrongwrongwrongwrong0")
			for i := w; i < addrs*each; i += 8 {
				addr := fmt.Sprintf("198.51.100.%d", i%addrs)
				r := c.do(t, http.MethodGet, "/Users", nil, hdr{"X-Test-Client": addr})
				mu.Lock()
				answers[r.Status]++
				if r.Status == http.StatusUnauthorized {
					per401[addr]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if got, want := answers[http.StatusUnauthorized], scimhttp.DefaultLimits().GlobalAuthFailureBurst; got != want {
		t.Errorf("401 answers: got %d, want the global burst of %d (answers %v)", got, want, answers)
	}
	if got := answers[http.StatusUnauthorized] + answers[http.StatusTooManyRequests]; got != addrs*each {
		t.Errorf("answers: got %v, want only 401 and 429", answers)
	}
	evs, err := dir.Events(ctx, store.EventQuery{TenantID: "acme", Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(per401) {
		t.Errorf("event rows: got %d, want one per address that got a 401 (%d)", len(evs), len(per401))
	}
	total := 0
	for _, e := range evs {
		total += e.Count
		if e.Status != http.StatusUnauthorized {
			t.Errorf("event %+v: want a 401", e)
		}
	}
	if total != answers[http.StatusUnauthorized] {
		t.Errorf("sum of event counts: got %d, want the %d failures answered 401", total, answers[http.StatusUnauthorized])
	}

	// A minute later, the same address makes a new row; the valid token
	// of the tenant is never refused meanwhile.
	clock.Advance(time.Minute)
	issued, err := dir.IssueToken(ctx, "acme", "entra", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	newClient(base, issued.Token.Reveal()).do(t, http.MethodGet, "/Users", nil, hdr{"X-Test-Client": "198.51.100.1"}).list(t)
	wantSCIMError(t, newClient(base, "wrong").do(t, http.MethodGet, "/Users", nil, hdr{"X-Test-Client": "198.51.100.1"}), http.StatusUnauthorized, "")
	wantSCIMError(t, newClient(base, "wrong").do(t, http.MethodGet, "/Users", nil, hdr{"X-Test-Client": "198.51.100.1"}), http.StatusUnauthorized, "")
	evs2, err := dir.Events(ctx, store.EventQuery{TenantID: "acme", Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs2) != len(evs)+1 || evs2[len(evs2)-1].Count != 2 {
		t.Errorf("after a minute: got %d rows (the last %+v), want one more counting 2", len(evs2), evs2[len(evs2)-1])
	}
}
