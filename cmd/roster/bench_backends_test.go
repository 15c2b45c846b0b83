package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the raw PostgreSQL figures

	"github.com/rosterhq/roster/internal/pgtest"
)

// BenchmarkBackends compares the store's backends in one run (docs/postgresql.md):
// create (POST /Users), lookup (GET /Users?filter=userName eq) and PATCH
// (replace a user's displayName) over real HTTP on loopback, 8 clients,
// for SQLite with one agent, PostgreSQL with one agent, and PostgreSQL
// with two agents (each client's requests alternate between them). Each
// figure is beside the raw baseline of the same rows on the same database,
// measured in the same round (interleaved, as BenchmarkAgent): INSERT,
// indexed SELECT and UPDATE, one row per transaction, from 8 goroutines
// through modernc.org/sqlite (its one writer connection and 4 readers,
// with the agent's pragmas) or pgx (8 connections).
//
// PostgreSQL is a cluster of internal/pgtest started with its durable
// settings (pgtest.Durable: fsync and synchronous_commit on), on this
// machine, reached over loopback TCP; the output says how it is
// configured.
//
// `make bench` runs it with the rest; ROSTER_BENCH_ONLY=backends runs it alone.
func BenchmarkBackends(b *testing.B) {
	if os.Getenv("ROSTER_BENCH") != "1" {
		b.Skip("set ROSTER_BENCH=1 (make bench)")
	}
	if only := os.Getenv("ROSTER_BENCH_ONLY"); only != "" && only != "backends" {
		b.Skip("ROSTER_BENCH_ONLY=" + only)
	}
	if ok, why := pgtest.Available(); !ok {
		b.Skip(why)
	}
	const (
		prefill = 10_000
		rounds  = 3
		writes  = 600 // creates and PATCHes per figure per round
		clients = 8
	)
	pgtest.Durable()
	defer pgtest.Stop()
	b.Setenv("ROSTER_RATE_REQUESTS_PER_SECOND", "0") // the ceiling, far above Entra's rate

	type backend struct {
		name   string
		agents []*agentProc
		token  string
		raw    *rawDB
		users  []benchUser // the prefilled users, for PATCH
	}
	start := time.Now()
	// SQLite: the raw figures on a copy of the prefilled file, as BenchmarkAgent.
	sqliteDir := b.TempDir()
	sqTok, _, _ := prefillStore(b, sqliteDir, prefill)
	sq := &backend{name: "SQLite, 1 agent", token: sqTok, raw: openRaw(b, sqliteDir)}
	sq.agents = []*agentProc{startAgentProc(b, sqliteDir, false)}
	// PostgreSQL: the raw figures on the agents' own database.
	pgURL := pgtest.New(b)
	pgTok, _, _ := prefillAt(b, pgURL, prefill)
	pgRaw := openRawPostgres(b, pgURL)
	pgA := startAgentProc(b, b.TempDir(), false, "--database", pgURL)
	pgB := startAgentProc(b, b.TempDir(), false, "--database", pgURL)
	pg1 := &backend{name: "PostgreSQL, 1 agent", agents: []*agentProc{pgA}, token: pgTok, raw: pgRaw}
	pg2 := &backend{name: "PostgreSQL, 2 agents", agents: []*agentProc{pgA, pgB}, token: pgTok, raw: pgRaw}
	sq.users, pg1.users = prefilledUsers(b, sq.raw), prefilledUsers(b, pgRaw)
	pg2.users = pg1.users
	fmt.Printf("prefill: %d users and two groups on each backend in %s\n", prefill, time.Since(start).Round(time.Millisecond))

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}}
	rep := &report{}
	seq := atomic.Int64{}
	for r := 0; r < rounds; r++ {
		for _, be := range []*backend{sq, pg1, pg2} {
			var turn atomic.Int64
			// next is the agent for the next request: the agents in turn.
			next := func() *agentProc { return be.agents[int(turn.Add(1))%len(be.agents)] }
			// 1. Create.
			httpRate := runClosed(clients, writes, func(int) error {
				code, err := scimDo(client, "POST", next().TenantURL+"/Users", be.token, userDoc(fmt.Sprintf("new%07d@contoso.com", seq.Add(1))), nil)
				if err == nil && code != 201 {
					err = fmt.Errorf("POST /Users: %d", code)
				}
				return err
			})
			rawRate := be.raw.run(b, clients, writes, be.raw.insertOne(&seq))
			rep.add("create POST /Users: "+be.name, "raw INSERT, "+be.raw.what(true), mustRate(b, httpRate), rawRate)
			// 2. Lookup.
			leans := make([]*leanClient, len(be.agents))
			for i, p := range be.agents {
				leans[i] = newLeanClient(p.TenantURL, be.token)
			}
			basePath := strings.TrimPrefix(be.agents[0].TenantURL, be.agents[0].BaseURL)
			lookups := runFor(clients, 2*time.Second, func(int) error {
				name := fmt.Sprintf("user%06d@contoso.com", rand.IntN(prefill))
				code, body, err := leans[int(turn.Add(1))%len(leans)].get(basePath + "/Users?filter=" + url.QueryEscape(`userName eq "`+name+`"`))
				if err == nil && (code != 200 || !bytes.Contains(body, []byte(`"totalResults":1,`))) {
					err = fmt.Errorf("lookup %s: %d %.200s", name, code, body)
				}
				return err
			})
			rawLookups, _ := be.raw.lookups(b, be.raw.r, clients, 2*time.Second, prefill)
			rep.add("lookup GET userName eq: "+be.name, "raw indexed SELECT, "+be.raw.what(false), mustRate(b, lookups), rawLookups)
			// 3. PATCH.
			patches := runClosed(clients, writes, func(int) error {
				u := be.users[rand.IntN(len(be.users))]
				code, err := scimDo(client, "PATCH", next().TenantURL+"/Users/"+u.id, be.token, map[string]any{
					"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
					"Operations": []any{map[string]any{"op": "Replace", "path": "displayName", "value": fmt.Sprintf("Patched %d", rand.Int())}},
				}, nil)
				if err == nil && code != 200 {
					err = fmt.Errorf("PATCH /Users: %d", code)
				}
				return err
			})
			rawPatches := be.raw.run(b, clients, writes, be.raw.updateOne(be.users))
			rep.add("PATCH displayName: "+be.name, "raw UPDATE, "+be.raw.what(true), mustRate(b, patches), rawPatches)
		}
	}
	rep.note("8 clients over HTTP on loopback, each request to the next agent in turn; beside, the same rows on the same database, one row per transaction from 8 goroutines.")
	rep.note("PostgreSQL: " + pgSettings(b, pgRaw.w) + "; a throwaway cluster of internal/pgtest on this machine, over loopback TCP.")
	rep.note("SQLite: WAL, synchronous=FULL, as the agent opens it.")
	rep.print(b)
	for _, p := range []*agentProc{sq.agents[0], pgA, pgB} {
		p.Stop(b)
	}
}

// mustRate is res's rate; a benchmark whose requests failed has no figure.
func mustRate(b *testing.B, res result) float64 {
	if res.errs > 0 {
		b.Fatalf("%d of %d requests failed; the first: %v", res.errs, res.n, res.firstEr)
	}
	return res.rate()
}

// openRawPostgres opens a pgx pool of 8 connections on the database at dsn,
// for the raw PostgreSQL figures.
func openRawPostgres(b *testing.B, dsn string) *rawDB {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	doc, _ := json.Marshal(userDoc("raw@contoso.com"))
	b.Cleanup(func() { db.Close() })
	return &rawDB{w: db, r: db, doc: string(doc), postgres: true}
}

// what says how the raw pool reaches its database, for writes or reads.
func (r *rawDB) what(write bool) string {
	switch {
	case r.postgres:
		return "8 conns"
	case write:
		return "1 writer"
	}
	return "4 readers"
}

// run runs n calls of fn on workers goroutines and returns calls/s.
func (r *rawDB) run(b *testing.B, workers, n int, fn func() error) float64 {
	res := runClosed(workers, n, func(int) error { return fn() })
	if res.errs > 0 {
		b.Fatalf("raw: %d of %d failed; the first: %v", res.errs, res.n, res.firstEr)
	}
	return res.rate()
}

// insertOne returns a call inserting one new user row in its own transaction.
func (r *rawDB) insertOne(seq *atomic.Int64) func() error {
	query := r.q(rawInsertUser)
	return func() error {
		k := seq.Add(1)
		name := fmt.Sprintf("raw%07d@contoso.com", k)
		now := time.Now().UnixNano()
		_, err := r.w.Exec(query, fmt.Sprintf("raw-%d", k), name, name, name, now, now, r.doc)
		return err
	}
}

// updateOne returns a call updating one random user of users as a PATCH
// of its displayName does: the document (the user's own, with the new
// displayName), the indexed column, version and modified.
func (r *rawDB) updateOne(users []benchUser) func() error {
	query := r.q(`UPDATE resources SET doc = ?, display_name_lc = ?, version = version + 1, modified = ? WHERE tenant_id = 'default' AND kind = 'User' AND id = ?`)
	return func() error {
		u := users[rand.IntN(len(users))]
		doc := userDoc(u.name)
		doc["id"] = u.id
		doc["displayName"] = fmt.Sprintf("Patched %d", rand.Int())
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		_, err = r.w.Exec(query, string(b), strings.ToLower(doc["displayName"].(string)), time.Now().UnixNano(), u.id)
		return err
	}
}

// benchUser is a prefilled user: its id and userName.
type benchUser struct{ id, name string }

// prefilledUsers returns the default tenant's users (prefillStore's).
func prefilledUsers(b *testing.B, r *rawDB) []benchUser {
	rows, err := r.r.Query(`SELECT id, name_lc FROM resources WHERE tenant_id = 'default' AND kind = 'User'`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var users []benchUser
	for rows.Next() {
		var u benchUser
		if err := rows.Scan(&u.id, &u.name); err != nil {
			b.Fatal(err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return users
}

// pgSettings reads the server's version and the settings that decide the
// cost of a commit.
func pgSettings(b *testing.B, db *sql.DB) string {
	var parts []string
	for _, s := range []string{"server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "shared_buffers"} {
		var v string
		if err := db.QueryRowContext(context.Background(), "SHOW "+s).Scan(&v); err != nil {
			b.Fatal(err)
		}
		parts = append(parts, s+"="+v)
	}
	return strings.Join(parts, ", ")
}
