package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

// BenchmarkChangeFeed measures what the change feed costs and what cursor
// paging gains (docs/change-feed.md), in one run, interleaved round by round:
//
//   - the create rate with the change log on, beside the same creates on a
//     store opened with store.Options.NoChangeLog;
//   - walking 100k users with RFC 9865 cursors in pages of 100 over HTTP:
//     the cost of the last pages beside the first ones (and, for contrast,
//     startIndex paging at the same two ends).
//
// `make bench` runs it with the rest; ROSTER_BENCH_ONLY=feed runs it alone.
func BenchmarkChangeFeed(b *testing.B) {
	if os.Getenv("ROSTER_BENCH") != "1" {
		b.Skip("set ROSTER_BENCH=1 (make bench)")
	}
	if only := os.Getenv("ROSTER_BENCH_ONLY"); only != "" && only != "feed" {
		b.Skip("ROSTER_BENCH_ONLY=" + only)
	}
	const (
		rounds  = 5
		creates = 2000
		walkN   = 100_000
		page    = 100
		ends    = 10 // pages timed at each end of the walk
	)
	ctx := context.Background()
	open := func(noLog bool) (*directory.Service, func()) {
		db, err := store.Open(ctx, filepath.Join(b.TempDir(), "roster.db"), store.Options{NoChangeLog: noLog})
		if err != nil {
			b.Fatal(err)
		}
		dir := directory.New(db, nil, nil)
		if _, err := dir.AddTenant(ctx, directory.DefaultTenant, "", store.TenantSettings{}); err != nil {
			b.Fatal(err)
		}
		return dir, func() { db.Close() }
	}
	c := directory.Call{TenantID: directory.DefaultTenant, BaseURL: "http://x/scim/default/v2", Method: "POST", Path: "/Users"}
	var seq atomic.Int64
	createRate := func(dir *directory.Service, n int) float64 {
		return runClosed(8, n, func(int) error {
			_, err := dir.Create(ctx, c, store.KindUser, userDoc(fmt.Sprintf("feed%07d@contoso.com", seq.Add(1))))
			return err
		}).rate()
	}
	rep := &report{}
	on, closeOn := open(false)
	off, closeOff := open(true)
	for r := 0; r < rounds; r++ {
		offRate := createRate(off, creates)
		onRate := createRate(on, creates)
		rep.add("create, change log on, 8 writers", "change log off", onRate, offRate)
	}
	closeOn()
	closeOff()

	// The walk: 100k users written without the log (faster to fill), then
	// served over real HTTP on loopback.
	dir, closeWalk := open(true)
	defer closeWalk()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < walkN; i += 8 {
				if _, err := dir.Create(ctx, c, store.KindUser, userDoc(fmt.Sprintf("walk%06d@contoso.com", i))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	fmt.Printf("prefill for the walk: %d users in %s\n", walkN, time.Since(start).Round(time.Millisecond))
	iss, err := dir.IssueToken(ctx, directory.DefaultTenant, "bench", true, nil)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(scimhttp.New(dir, scimhttp.Options{}))
	defer srv.Close()
	base := scimhttp.TenantURL(srv.URL, directory.DefaultTenant)
	client := &http.Client{}
	get := func(path string) (string, int, time.Duration) {
		t0 := time.Now()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+iss.Token.Reveal())
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var lr struct {
			NextCursor string           `json:"nextCursor"`
			Resources  []map[string]any `json:"Resources"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&lr); err != nil || resp.StatusCode != 200 {
			b.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return lr.NextCursor, len(lr.Resources), time.Since(t0)
	}
	perSecond := func(ds []time.Duration) float64 {
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		return float64(len(ds)) / sum.Seconds()
	}
	var walkTimes []time.Duration
	for r := 0; r < 3; r++ {
		t0 := time.Now()
		var first, last []time.Duration
		cursor, pages, seen := "", 0, 0
		for {
			next, n, d := get(fmt.Sprintf("/Users?count=%d&cursor=%s", page, cursor))
			pages++
			seen += n
			if pages > 1 && pages <= 1+ends { // the first page also counts the total
				first = append(first, d)
			}
			last = append(last, d)
			if len(last) > ends {
				last = last[1:]
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if seen != walkN {
			b.Fatalf("the cursor walk saw %d users, want %d", seen, walkN)
		}
		walkTimes = append(walkTimes, time.Since(t0))
		// Pages per second at each end; the ratio is last-page cost over
		// first-page cost.
		rep.add("cursor walk 100k: first pages, pages/s", "last pages, pages/s", perSecond(first), perSecond(last))
		var idxFirst, idxLast []time.Duration
		for i := 0; i < ends; i++ {
			_, _, d := get(fmt.Sprintf("/Users?count=%d&startIndex=%d", page, 1+i*page))
			idxFirst = append(idxFirst, d)
			_, _, d = get(fmt.Sprintf("/Users?count=%d&startIndex=%d", page, walkN-(ends-i)*page+1))
			idxLast = append(idxLast, d)
		}
		rep.add("startIndex paging: first pages, pages/s", "last pages, pages/s", perSecond(idxFirst), perSecond(idxLast))
	}
	rep.note(fmt.Sprintf("a whole cursor walk of %d users in pages of %d took %v per round", walkN, page, walkTimes))
	rep.note("targets (issue 13): create with the log on >= 0.90 x off; cursor walk last pages cost <= 1.2 x the first (ratio first/last pages/s <= 1.2)")
	rep.print(b)
}
