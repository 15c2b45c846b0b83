package agent_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/domainproof"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/webhook"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/syncbuf"
	"github.com/rosterhq/roster/store"
)

// backends runs test once on a SQLite file (two stores on one file, as the
// agent and a command beside it) and once on a PostgreSQL database (two
// agents), handing it the location to open.
func backends(t *testing.T, test func(t *testing.T, location string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, filepath.Join(t.TempDir(), "roster.db")) })
	t.Run("postgres", func(t *testing.T) { test(t, pgtest.New(t)) })
}

// openAt opens another store on location, closed when the test ends.
func openAt(t *testing.T, location string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), location, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// testLeaseTTL is the agents' lease TTL in these tests: long enough that a
// holder slowed down by a loaded machine keeps its lease, short enough that
// the other agents, trying every TTL/3, take it over soon.
const testLeaseTTL = 3 * time.Second

// settableClock is a clock that tests move forward.
type settableClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *settableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *settableClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// countingChecker finds every domain's record and counts its checks.
type countingChecker struct{ n atomic.Int64 }

func (c *countingChecker) Check(context.Context, domainproof.Challenge) domainproof.Result {
	c.n.Add(1)
	return domainproof.Result{Status: domainproof.Verified}
}

// waitUntil polls cond until it holds, failing the test after 20 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20 s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serving is an agent serving until stop.
type serving struct {
	cancel context.CancelFunc
	done   chan error
}

func serve(t *testing.T, a *agent.Agent) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- a.Serve(ctx, listen(t)) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *serving) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	if err := <-s.done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestDomainChecksRunOnce: two agents on one database, each checking due
// domains every 5 ms: each time a domain falls due, one check runs, by
// one agent (the lease holder's). When that agent stops, the other takes
// the checks over.
func TestDomainChecksRunOnce(t *testing.T) {
	backends(t, func(t *testing.T, location string) {
		ctx := context.Background()
		clock := &settableClock{now: time.Now()}
		dirs := []*directory.Service{directory.New(openAt(t, location), nil, clock.Now), directory.New(openAt(t, location), nil, clock.Now)}
		if _, err := dirs[0].AddTenant(ctx, "acme", "", store.TenantSettings{}); err != nil {
			t.Fatal(err)
		}
		if _, err := dirs[0].AddDomain(ctx, "acme", "acme.example"); err != nil {
			t.Fatal(err)
		}
		checkers := []*countingChecker{{}, {}}
		var agents []*serving
		for i, dir := range dirs {
			agents = append(agents, serve(t, agent.New(dir, agent.Options{DomainChecker: checkers[i], DomainInterval: 5 * time.Millisecond, LeaseTTL: testLeaseTTL})))
		}
		total := func() int64 { return checkers[0].n.Load() + checkers[1].n.Load() }
		waitUntil(t, "the first check", func() bool { return total() == 1 })
		for round := int64(2); round <= 6; round++ {
			clock.Add(25 * time.Hour) // a verified domain is checked daily
			waitUntil(t, fmt.Sprintf("check %d", round), func() bool { return total() >= round })
			// Give the other agent's loop, polling every 5 ms, a chance to
			// check the same due domain a second time.
			time.Sleep(50 * time.Millisecond)
			if got := total(); got != round {
				t.Fatalf("after %d days: %d checks, want %d (one per day across both agents)", round-1, got, round)
			}
		}
		leader := 0
		if checkers[1].n.Load() > 0 {
			leader = 1
		}
		if checkers[1-leader].n.Load() != 0 {
			t.Fatalf("both agents checked: %d and %d checks", checkers[0].n.Load(), checkers[1].n.Load())
		}
		// The checking agent stops (and releases its lease): the other
		// takes the checks over.
		agents[leader].stop(t)
		clock.Add(25 * time.Hour)
		waitUntil(t, "the other agent to check", func() bool { return checkers[1-leader].n.Load() == 1 })
	})
}

// TestMaintenanceRunsOnce: two agents on one database purge every 5 ms;
// old provisioning events keep arriving, and only one agent purges them
// (only its log says it pruned events). When it stops, the other takes the
// purges over.
func TestMaintenanceRunsOnce(t *testing.T) {
	backends(t, func(t *testing.T, location string) {
		ctx := context.Background()
		db := openAt(t, location)
		addOld := func() {
			t.Helper()
			err := db.Write(ctx, func(tx *store.Tx) error {
				return tx.InsertEvent(&store.Event{At: time.Now().Add(-72 * time.Hour), TenantID: "t", Method: "POST", Path: "/x", Status: 201})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		var logs [2]syncbuf.Buffer
		dirs := []*directory.Service{directory.New(db, nil, nil), directory.New(openAt(t, location), nil, nil)}
		var agents []*serving
		for i, dir := range dirs {
			log := slog.New(slog.NewJSONHandler(&logs[i], nil))
			agents = append(agents, serve(t, agent.New(dir, agent.Options{EventRetention: 24 * time.Hour, MaintenanceInterval: 5 * time.Millisecond,
				LeaseTTL: testLeaseTTL, Logger: log})))
		}
		const pruned = "pruned provisioning events"
		purges := func(i int) int { return strings.Count(logs[i].String(), pruned) }
		noEvents := func() bool {
			evs, err := dirs[1].Events(ctx, store.EventQuery{})
			return err == nil && len(evs) == 0
		}
		for range 20 {
			addOld()
			waitUntil(t, "the purge", noEvents)
		}
		if purges(0) > 0 && purges(1) > 0 {
			t.Fatalf("both agents purged (%d and %d times)", purges(0), purges(1))
		}
		leader := 0
		if purges(1) > 0 {
			leader = 1
		}
		agents[leader].stop(t)
		addOld()
		waitUntil(t, "the other agent to purge", func() bool { return purges(1-leader) > 0 })
	})
}

// TestWebhookDeliveryAcrossAgents: three agents on one database each run a
// webhook dispatcher; every change reaches the endpoint once, in seq order,
// from one agent. When that agent stops, another delivers the next changes,
// from where it stopped. When that one dies (its store closes under it, so
// it neither saves nor releases anything more), the third takes over once
// the dead agent's lease expired, and delivers the rest.
func TestWebhookDeliveryAcrossAgents(t *testing.T) {
	backends(t, func(t *testing.T, location string) {
		ctx := context.Background()
		dbs := []*store.DB{openAt(t, location), openAt(t, location), openAt(t, location)}
		var dirs []*directory.Service
		for _, db := range dbs {
			dirs = append(dirs, directory.New(db, nil, nil))
		}
		if _, err := dirs[0].AddTenant(ctx, "acme", "", store.TenantSettings{}); err != nil {
			t.Fatal(err)
		}
		type delivery struct {
			id    string
			agent string
		}
		var mu sync.Mutex
		var got []delivery
		var secret atomic.Value
		secret.Store("")
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("read delivery: %v", err)
			}
			id, err := webhook.Verify(secret.Load().(string), r.Header, body, time.Now(), webhook.DefaultTolerance)
			if err != nil {
				t.Errorf("delivery does not verify: %v", err)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			mu.Lock()
			got = append(got, delivery{id: id, agent: r.Header.Get("X-Test-Agent")})
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
		defer srv.Close()
		w, err := dirs[0].AddWebhook(ctx, directory.NewWebhook{Tenant: "acme", URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		secret.Store(w.Secret)
		var runs []*serving
		for i, dir := range dirs {
			client, err := webhook.NewClient(nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			client.Transport = tagAgent{name: fmt.Sprint(i), next: client.Transport}
			d, err := webhook.New(dir, dir, webhook.Options{Client: client, Reload: 20 * time.Millisecond, LeaseTTL: testLeaseTTL})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(ctx)
			s := &serving{cancel: cancel, done: make(chan error, 1)}
			go func() { s.done <- d.Run(ctx) }()
			t.Cleanup(func() { s.stop(t) })
			runs = append(runs, s)
		}
		via := dirs[0] // the agent that writes, and reads the log, for the test
		create := func(from, to int) {
			for i := from; i < to; i++ {
				call := directory.Call{TenantID: "acme", BaseURL: "http://x"}
				if _, err := via.Create(ctx, call, store.KindUser, map[string]any{"schemas": []any{scim.SchemaUser}, "userName": fmt.Sprintf("u%d@acme.example", i)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		deliveries := func() []delivery {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(got)
		}
		// check: the deliveries are the log's changes, each once, in seq
		// order, and those from index from on came from agent.
		check := func(n int, from int, agent string) {
			t.Helper()
			waitUntil(t, fmt.Sprintf("%d deliveries", n), func() bool { return len(deliveries()) >= n })
			cs, err := via.Changes(ctx, "acme", 0, 1000, nil)
			if err != nil {
				t.Fatal(err)
			}
			ds := deliveries()
			if len(ds) != n || len(cs) != n {
				t.Fatalf("%d deliveries of %d changes, want %d of each", len(ds), len(cs), n)
			}
			for i := range cs {
				if ds[i].id != cs[i].ID {
					t.Fatalf("delivery %d is change %s, want %s (seq %d): not each once in seq order", i, ds[i].id, cs[i].ID, cs[i].Seq)
				}
				if i >= from && ds[i].agent != agent {
					t.Fatalf("delivery %d came from agent %s, want %s", i, ds[i].agent, agent)
				}
			}
		}
		create(0, 10)
		waitUntil(t, "a first delivery", func() bool { return len(deliveries()) > 0 })
		holder := deliveries()[0].agent
		check(10, 0, holder)
		// The holder stops: it saves the endpoint's cursor and releases
		// its lease; another agent continues from the cursor.
		var first int
		fmt.Sscan(holder, &first)
		runs[first].stop(t)
		create(10, 20)
		waitUntil(t, "a delivery by another agent", func() bool { return len(deliveries()) > 10 })
		second := deliveries()[10].agent
		check(20, 10, second)
		// The second holder dies once it saved the cursor (or the third
		// would send again what came after the saved one: at least once,
		// as after a crash): its store closes under its dispatcher.
		cs, err := via.Changes(ctx, "acme", 0, 1000, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the cursor to be saved", func() bool {
			w, err := via.Webhook(ctx, w.ID)
			return err == nil && w.Cursor == cs[len(cs)-1].Seq
		})
		var s2 int
		fmt.Sscan(second, &s2)
		third := 3 - first - s2
		via = dirs[third]
		dbs[s2].Close()
		create(20, 30)
		check(30, 20, fmt.Sprint(third))
	})
}

// tagAgent names the agent that sent a request, for the receiver.
type tagAgent struct {
	name string
	next http.RoundTripper
}

func (ta tagAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Test-Agent", ta.name)
	next := ta.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}
