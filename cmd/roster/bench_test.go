package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/store"
)

// BenchmarkAgent measures the agent over real HTTP on loopback against a real
// SQLite file, beside raw modernc.org/sqlite figures for the same rows in the
// same run, interleaved round by round (absolute figures drift by up to 1.7×
// within minutes on these machines; ratios do not). Run it with `make bench`.
//
// The agent runs as a separate process (this test binary re-executed as
// `roster agent`), so its resident memory is its own.
func BenchmarkAgent(b *testing.B) {
	if os.Getenv("ROSTER_BENCH") != "1" {
		b.Skip("set ROSTER_BENCH=1 (make bench)")
	}
	if only := os.Getenv("ROSTER_BENCH_ONLY"); only == "feed" || only == "create" || only == "oauth" || only == "backends" {
		b.Skip("ROSTER_BENCH_ONLY=" + only + " runs its benchmark alone")
	}
	const (
		prefill = 100_000
		rounds  = 5
	)
	ctx := context.Background()
	dataDir := b.TempDir()
	start := time.Now()
	tok, smallG, largeG := prefillStore(b, dataDir, prefill)
	fmt.Printf("prefill: %d users, group of 10 and group of %d members in %s\n", prefill, prefill, time.Since(start).Round(time.Millisecond))
	raw := openRaw(b, dataDir)
	// The benchmark measures the agent's ceiling, far above Entra's rate:
	// lift the per-token rate limit.
	b.Setenv("ROSTER_RATE_REQUESTS_PER_SECOND", "0")
	p := startAgentProc(b, dataDir, false, "--metrics-listen", "127.0.0.1:0")
	metricsAddr := p.metricsAddr(b)
	base := p.TenantURL
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}}
	lean := newLeanClient(base, tok)
	basePath := strings.TrimPrefix(base, p.BaseURL)
	rep := &report{}
	// ROSTER_BENCH_ONLY=lookup measures only the lookups (and memory), for
	// quicker turns while tuning that path.
	all := true
	switch v := os.Getenv("ROSTER_BENCH_ONLY"); v {
	case "":
	case "lookup":
		all = false
	default:
		b.Fatalf("ROSTER_BENCH_ONLY=%q: the parts that run alone are \"lookup\", \"feed\", \"create\", \"oauth\" and \"backends\"", v)
	}

	// 1. Create: POST /Users (8 clients) vs raw INSERT of the same row.
	var newUsers []string
	var nuMu sync.Mutex
	seq := atomic.Int64{}
	for r := 0; r < rounds && all; r++ {
		const n = 1000
		rawOne := raw.insertUsers(b, n, 1, &seq)
		rawBatch := raw.insertUsers(b, n, 100, &seq)
		httpRate := runClosed(8, n, func(i int) error {
			k := seq.Add(1)
			var u struct{ ID string }
			code, err := scimDo(client, "POST", base+"/Users", tok, userDoc(fmt.Sprintf("new%07d@contoso.com", k)), &u)
			if err == nil && code != 201 {
				err = fmt.Errorf("POST /Users: %d", code)
			}
			if err == nil {
				nuMu.Lock()
				newUsers = append(newUsers, u.ID)
				nuMu.Unlock()
			}
			return err
		}).rate()
		rep.add("create: POST /Users, 8 clients", "raw INSERT, 1 row/tx", httpRate, rawOne)
		rep.add("create: POST /Users, 8 clients", "raw INSERT, 100 rows/tx", httpRate, rawBatch)
	}

	// 2. Lookup: GET /Users?filter=userName eq "…" (8 clients) vs raw indexed
	// lookup on 4 reader connections.
	var lookups atomic.Int64
	lookup := func(int) error {
		name := fmt.Sprintf("user%06d@contoso.com", rand.IntN(prefill))
		code, body, err := lean.get(basePath + "/Users?filter=" + url.QueryEscape(`userName eq "`+name+`"`))
		lookups.Add(1)
		if err == nil && (code != 200 || !bytes.Contains(body, []byte(`"totalResults":1,`)) || !bytes.Contains(body, []byte(name))) {
			err = fmt.Errorf("lookup %s: %d %s", name, code, body)
		}
		return err
	}
	var p99s []time.Duration
	wrkPath, _ := exec.LookPath("wrk") // a lighter load generator, when installed
	// CPU time per lookup does not depend on how the two cores are shared
	// between the agent and the load generator, so it is printed too.
	var cpuAgent, cpuClient, cpuRaw []float64
	for r := 0; r < rounds; r++ {
		self0 := selfCPU()
		rawRate, rawN := raw.lookups(b, raw.r, 4, 2*time.Second, prefill)
		cpuRaw = append(cpuRaw, microsPer(selfCPU()-self0, rawN))
		rawMmap, _ := raw.lookups(b, raw.rMmap, 4, 2*time.Second, prefill)
		agent0, self0 := p.cpu(b), selfCPU()
		res := runFor(8, 2*time.Second, lookup)
		cpuAgent = append(cpuAgent, microsPer(p.cpu(b)-agent0, res.n))
		cpuClient = append(cpuClient, microsPer(selfCPU()-self0, res.n))
		rep.add("lookup: GET filter userName eq, 8 clients", "raw indexed SELECT, 4 readers", res.rate(), rawRate)
		rep.add("lookup: GET filter userName eq, 8 clients", "same, raw with mmap 256 MiB", res.rate(), rawMmap)
		p99s = append(p99s, res.pct(0.99))
		if wrkPath != "" {
			rate, err := wrkLookups(b, wrkPath, base, tok, prefill, 2*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			rep.add("lookup, wrk as the load generator, 8 conns", "raw indexed SELECT, 4 readers", rate, rawRate)
		}
	}
	rep.note(fmt.Sprintf("CPU time per lookup (median of rounds): the agent %.0f µs, the Go load generator %.0f µs; the raw indexed SELECT %.0f µs (raw/agent %.2f)",
		median(cpuAgent), median(cpuClient), median(cpuRaw), median(cpuRaw)/median(cpuAgent)))
	if wrkPath == "" {
		rep.note("wrk is not installed: the lookup figure with a lighter load generator is skipped (apt-get install wrk)")
	}
	rep.note(fmt.Sprintf("lookup p99 at 8 clients (closed loop), per round: %v", p99s))
	before := usersLatency(b, metricsAddr)
	steady := runOpenLoop(2000, 5*time.Second, lookup)
	after := usersLatency(b, metricsAddr)
	rep.note(fmt.Sprintf("lookup at a steady 2,000 requests/s for 5 s: %d requests, %d errors, p50 %s, p99 %s, max %s",
		steady.n, steady.errs, steady.pct(0.50), steady.pct(0.99), steady.pct(1)))
	// The latencies above are the client's, from when each request was due:
	// a pause of the load generator counts too. The agent's own histogram
	// says how much of the tail is the agent's.
	if total := after["+Inf"] - before["+Inf"]; total > 0 {
		share := func(le string) float64 { return 100 * (after[le] - before[le]) / total }
		rep.note(fmt.Sprintf("the same %0.f requests by the agent's own latency histogram: %.2f%% took at most 1 ms, %.2f%% at most 2.5 ms, %.2f%% at most 5 ms",
			total, share("0.001"), share("0.0025"), share("0.005")))
	}
	for lookups.Load() < 100_000 { // the memory figure is after 100k lookups
		runClosed(8, 10_000, lookup)
	}

	// 3. Groups of 10 and of 100k members: add a member; read with
	// excludedAttributes=members.
	if all && len(newUsers) < 2*rounds*200 {
		b.Fatalf("need %d fresh users for member adds, have %d", 2*rounds*200, len(newUsers))
	}
	next := atomic.Int64{}
	addMember := func(group string) func(int) error {
		return func(int) error {
			id := newUsers[next.Add(1)-1]
			code, err := scimDo(client, "PATCH", base+"/Groups/"+group, tok, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "Add", "path": "members", "value": []any{map[string]any{"value": id}}}},
			}, nil)
			if err == nil && code != 204 {
				err = fmt.Errorf("PATCH group: %d", code)
			}
			return err
		}
	}
	getGroup := func(group string) func(int) error {
		return func(int) error {
			code, body, err := lean.get(basePath + "/Groups/" + group + "?excludedAttributes=members")
			if err == nil && (code != 200 || bytes.Contains(body, []byte(`"members"`)) || !bytes.Contains(body, []byte(group))) {
				err = fmt.Errorf("GET group: %d %.200s", code, body)
			}
			return err
		}
	}
	for r := 0; r < rounds && all; r++ {
		s := runClosed(8, 200, addMember(smallG.id)).rate()
		l := runClosed(8, 200, addMember(largeG.id)).rate()
		rs := raw.addMembers(b, smallG.seq, 200)
		rl := raw.addMembers(b, largeG.seq, 200)
		rep.add("PATCH add member, group of 10", "raw INSERT member, 1 row/tx", s, rs)
		rep.add("PATCH add member, group of 100k", "raw INSERT member, 1 row/tx", l, rl)
		rep.add("PATCH add member: 100k-member group", "same on 10-member group", l, s)
		gs := runClosed(8, 3000, getGroup(smallG.id)).rate()
		gl := runClosed(8, 3000, getGroup(largeG.id)).rate()
		rep.add("GET group excludedAttributes=members, 10", "raw SELECT group row", gs, raw.getGroup(b, smallG.id, 3000))
		rep.add("GET group excludedAttributes=members, 100k", "raw SELECT group row", gl, raw.getGroup(b, largeG.id, 3000))
		rep.add("GET group excl. members: 100k-member group", "same on 10-member group", gl, gs)
	}

	// 4. Resident memory of the agent process.
	rss, anon, err := p.rssKB()
	if err != nil {
		b.Fatal(err)
	}
	rep.note(fmt.Sprintf("agent resident memory after %d users and %d lookups: VmRSS %.1f MB (of which anonymous %.1f MB; the rest is file-backed: the program's code, and the database if ROSTER_SQLITE_MMAP_SIZE maps it)",
		prefill+int(seq.Load()), lookups.Load(), float64(rss)/1024, float64(anon)/1024))
	b.ReportMetric(float64(rss)/1024, "rss-MB")
	b.ReportMetric(float64(anon)/1024, "anon-MB")
	rep.print(b)
	p.Stop(b)
	_ = ctx
}

type groupRef struct {
	id  string
	seq int64
}

func userDoc(name string) map[string]any {
	return map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"externalId":  name[:strings.IndexByte(name, '@')],
		"userName":    name,
		"active":      true,
		"displayName": "Test User",
		"emails":      []any{map[string]any{"primary": true, "type": "work", "value": name}},
		"name":        map[string]any{"formatted": "Test User", "familyName": "User", "givenName": "Test"},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "Sales", "employeeNumber": "12345"},
		"meta": map[string]any{"resourceType": "User"},
	}
}

// prefillStore writes n users, a group with 10 members and one with all n,
// through the store (as the agent would store them), and returns a token.
func prefillStore(b testing.TB, dataDir string, n int) (string, groupRef, groupRef) {
	return prefillAt(b, filepath.Join(dataDir, "roster.db"), n)
}

// prefillAt is prefillStore for the store at loc: a SQLite file or a
// postgres:// URL.
func prefillAt(b testing.TB, loc string, n int) (string, groupRef, groupRef) {
	ctx := context.Background()
	db, err := store.Open(ctx, loc, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	dir := directory.New(db, nil, nil)
	if _, err := dir.AddTenant(ctx, directory.DefaultTenant, "", store.TenantSettings{}); err != nil {
		b.Fatal(err)
	}
	issued, err := dir.IssueToken(ctx, directory.DefaultTenant, "bench", false, nil)
	if err != nil {
		b.Fatal(err)
	}
	c := directory.Call{TenantID: directory.DefaultTenant, BaseURL: "http://x/scim/default/v2", Method: "POST", Path: "/prefill", Start: time.Now()}
	ids := make([]string, n)
	const chunk = 2000
	var wg sync.WaitGroup
	errs := make(chan error, n/chunk+1)
	for lo := 0; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo int) {
			defer wg.Done()
			for i := lo; i < min(lo+chunk, n); i++ {
				got, err := dir.Create(ctx, c, store.KindUser, userDoc(fmt.Sprintf("user%06d@contoso.com", i)))
				if err != nil {
					errs <- err
					return
				}
				ids[i] = got.Doc["id"].(string)
			}
		}(lo)
		if (lo/chunk)%8 == 7 {
			wg.Wait()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	mk := func(name string, members []string) groupRef {
		got, err := dir.Create(ctx, c, store.KindGroup, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name})
		if err != nil {
			b.Fatal(err)
		}
		id := got.Doc["id"].(string)
		var seq int64
		err = db.Write(ctx, func(tx *store.Tx) error {
			r, err := tx.Resource(directory.DefaultTenant, store.KindGroup, id)
			if err != nil {
				return err
			}
			seq = r.Seq
			ms := make([]store.Member, len(members))
			for i, m := range members {
				ms[i] = store.Member{Value: m, Type: store.KindUser}
			}
			_, err = tx.AddMembers(directory.DefaultTenant, r.Seq, ms)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		return groupRef{id: id, seq: seq}
	}
	small := mk("Small group", ids[:10])
	large := mk("Large group", ids)
	return issued.Token.Reveal(), small, large
}

// rawDB is a copy of the prefilled database used through modernc.org/sqlite
// directly, with the agent's pragmas (WAL, synchronous=FULL, no mmap unless
// ROSTER_SQLITE_MMAP_SIZE says otherwise), plus a reader pool with mmap for
// reference.
type rawDB struct {
	w, r, rMmap *sql.DB
	doc         string
	postgres    bool // the pool is pgx's, on PostgreSQL: $n placeholders
}

// q returns query, written with ? placeholders, in the raw pool's dialect.
func (r *rawDB) q(query string) string {
	if !r.postgres {
		return query
	}
	var sb strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			fmt.Fprintf(&sb, "$%d", n)
			continue
		}
		sb.WriteRune(c)
	}
	return sb.String()
}

func openRaw(b *testing.B, dataDir string) *rawDB {
	src := filepath.Join(dataDir, "roster.db")
	dst := filepath.Join(b.TempDir(), "raw.db")
	copyFile(b, src, dst)
	opts, err := storeOptions()
	if err != nil {
		b.Fatal(err)
	}
	dsn := "file:" + dst + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)"
	w, err := sql.Open("sqlite", fmt.Sprintf("%s&_pragma=mmap_size(%d)", dsn, opts.MmapSize))
	if err != nil {
		b.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	readers := func(mmap int64) *sql.DB {
		r, err := sql.Open("sqlite", fmt.Sprintf("%s&_pragma=mmap_size(%d)&_pragma=query_only(1)", dsn, mmap))
		if err != nil {
			b.Fatal(err)
		}
		r.SetMaxOpenConns(4)
		r.SetMaxIdleConns(4)
		return r
	}
	r, rMmap := readers(opts.MmapSize), readers(256<<20)
	doc, _ := json.Marshal(userDoc("raw@contoso.com"))
	b.Cleanup(func() { w.Close(); r.Close(); rMmap.Close() })
	return &rawDB{w: w, r: r, rMmap: rMmap, doc: string(doc)}
}

func copyFile(b *testing.B, src, dst string) {
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}

// rawInsertUser inserts a user row as the store does: id, name, external
// id, work email, created, modified, doc.
const rawInsertUser = `INSERT INTO resources(tenant_id, kind, id, name_lc, external_id, work_email_lc, display_name_lc, active, created, modified, version, doc)
			VALUES ('default', 'User', ?, ?, ?, ?, 'test user', 1, ?, ?, 1, ?)`

// insertUsers inserts n user rows, perTx rows per transaction, and returns rows/s.
func (r *rawDB) insertUsers(b *testing.B, n, perTx int, seq *atomic.Int64) float64 {
	ctx := context.Background()
	start := time.Now()
	for done := 0; done < n; {
		tx, err := r.w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		st, err := tx.PrepareContext(ctx, r.q(rawInsertUser))
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < perTx && done < n; i, done = i+1, done+1 {
			k := seq.Add(1)
			name := fmt.Sprintf("raw%07d@contoso.com", k)
			now := time.Now().UnixNano()
			if _, err := st.ExecContext(ctx, fmt.Sprintf("raw-%d", k), name, name, name, now, now, r.doc); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// lookups runs indexed userName lookups on `readers` goroutines for d and
// returns lookups/s and how many ran.
func (r *rawDB) lookups(b *testing.B, pool *sql.DB, readers int, d time.Duration, n int) (float64, int) {
	ctx := context.Background()
	st, err := pool.PrepareContext(ctx, r.q(`SELECT seq, id, created, modified, version, doc FROM resources WHERE tenant_id = 'default' AND kind = 'User' AND name_lc = ?`))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	res := runFor(readers, d, func(int) error {
		var seq, c, m, v int64
		var id, doc string
		return st.QueryRowContext(ctx, fmt.Sprintf("user%06d@contoso.com", rand.IntN(n))).Scan(&seq, &id, &c, &m, &v, &doc)
	})
	if res.errs > 0 {
		b.Fatalf("raw lookups failed: %d", res.errs)
	}
	return res.rate(), res.n
}

// addMembers inserts n member rows into a group, one per transaction, and returns rows/s.
func (r *rawDB) addMembers(b *testing.B, groupSeq int64, n int) float64 {
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := r.w.Exec(`INSERT INTO members(group_seq, member_id, tenant_id, member_type) VALUES (?, ?, 'default', 'User') ON CONFLICT DO NOTHING`,
			groupSeq, fmt.Sprintf("raw-member-%d-%d", groupSeq, rand.Int64())); err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// getGroup reads a group row by id n times on 4 readers and returns reads/s.
func (r *rawDB) getGroup(b *testing.B, id string, n int) float64 {
	res := runClosed(4, n, func(int) error {
		var doc string
		return r.r.QueryRow(`SELECT doc FROM resources WHERE tenant_id = 'default' AND kind = 'Group' AND id = ?`, id).Scan(&doc)
	})
	if res.errs > 0 {
		b.Fatalf("raw group reads failed: %d", res.errs)
	}
	return res.rate()
}

// result is the outcome of a load run.
type result struct {
	n, errs int
	elapsed time.Duration
	lat     []time.Duration
	firstEr error
}

func (r result) rate() float64 { return float64(r.n-r.errs) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	i := int(p*float64(len(r.lat))+0.5) - 1
	return r.lat[max(0, min(i, len(r.lat)-1))]
}

// runClosed runs n calls of fn on `workers` goroutines, each call after the previous one.
func runClosed(workers, n int, fn func(int) error) result {
	var next atomic.Int64
	return run(workers, func() (int, bool) { i := int(next.Add(1)) - 1; return i, i < n }, fn)
}

// runFor runs fn on `workers` goroutines for d.
func runFor(workers int, d time.Duration, fn func(int) error) result {
	deadline := time.Now().Add(d)
	return run(workers, func() (int, bool) { return 0, time.Now().Before(deadline) }, fn)
}

func run(workers int, next func() (int, bool), fn func(int) error) result {
	var mu sync.Mutex
	res := result{}
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			n, errs := 0, 0
			var first error
			for {
				i, ok := next()
				if !ok {
					break
				}
				t0 := time.Now()
				if err := fn(i); err != nil {
					errs++
					if first == nil {
						first = err
					}
				}
				lat = append(lat, time.Since(t0))
				n++
			}
			mu.Lock()
			res.n += n
			res.errs += errs
			res.lat = append(res.lat, lat...)
			if res.firstEr == nil {
				res.firstEr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if res.firstEr != nil {
		fmt.Println("first error:", res.firstEr)
	}
	return res
}

// runOpenLoop issues fn at a fixed rate for d and measures each call's latency
// from the moment it was due, so queueing delay counts (no coordinated omission).
func runOpenLoop(perSecond int, d time.Duration, fn func(int) error) result {
	total := int(d.Seconds() * float64(perSecond))
	interval := time.Second / time.Duration(perSecond)
	start := time.Now()
	jobs := make(chan time.Time, total)
	var mu sync.Mutex
	res := result{}
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for due := range jobs {
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				}
				err := fn(0)
				lat := time.Since(due)
				mu.Lock()
				res.n++
				if err != nil {
					res.errs++
				}
				res.lat = append(res.lat, lat)
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < total; i++ {
		jobs <- start.Add(time.Duration(i) * interval)
	}
	close(jobs)
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// report collects interleaved figures: each row is one measured pair per round.
type report struct {
	rows  []string
	pairs map[string][][2]float64
	notes []string
}

func (r *report) add(what, against string, got, base float64) {
	key := what + "\x00" + against
	if r.pairs == nil {
		r.pairs = map[string][][2]float64{}
	}
	if _, ok := r.pairs[key]; !ok {
		r.rows = append(r.rows, key)
	}
	r.pairs[key] = append(r.pairs[key], [2]float64{got, base})
}

func (r *report) note(s string) { r.notes = append(r.notes, s) }

func (r *report) print(b *testing.B) {
	fmt.Println()
	fmt.Printf("%-44s %12s   %-32s %12s   %s\n", "measured (ops/s, median of rounds)", "", "beside", "", "ratio (median; per round)")
	for _, key := range r.rows {
		what, against, _ := strings.Cut(key, "\x00")
		ps := r.pairs[key]
		gots, bases, ratios := make([]float64, len(ps)), make([]float64, len(ps)), make([]float64, len(ps))
		per := make([]string, len(ps))
		for i, p := range ps {
			gots[i], bases[i], ratios[i] = p[0], p[1], p[0]/p[1]
			per[i] = fmt.Sprintf("%.2f", ratios[i])
		}
		fmt.Printf("%-44s %12.0f   %-32s %12.0f   %.2f  (%s)\n", what, median(gots), against, median(bases), median(ratios), strings.Join(per, " "))
	}
	fmt.Println()
	for _, n := range r.notes {
		fmt.Println(n)
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// wrkLookups runs wrk (8 connections, 2 threads) against random userName
// lookups for d and returns its requests/s. wrk costs far less CPU per
// request than a Go client, which shares the two cores with the agent.
func wrkLookups(b *testing.B, wrk, base, token string, n int, d time.Duration) (float64, error) {
	script := filepath.Join(b.TempDir(), "lookup.lua")
	lua := fmt.Sprintf(`request = function()
  local path = string.format("%%s/Users?filter=userName+eq+%%%%22user%%06d@contoso.com%%%%22", wrk.path, math.random(0, %d))
  return wrk.format("GET", path)
end
`, n-1)
	if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
		return 0, err
	}
	out, err := exec.Command(wrk, "-t2", "-c8", fmt.Sprintf("-d%ds", int(d.Seconds())), "-s", script,
		"-H", "Authorization: Bearer "+token, base).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "Non-2xx") || strings.Contains(string(out), "Socket errors") {
		return 0, fmt.Errorf("wrk saw failed requests:\n%s", out) // every lookup must answer 200
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "Requests/sec:"); ok {
			var rate float64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%f", &rate); err != nil {
				return 0, err
			}
			return rate, nil
		}
	}
	return 0, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
}

// cpu is the CPU time (user and system) the agent process has used, from
// /proc in clock ticks (USER_HZ, 100 per second on Linux).
func (p *agentProc) cpu(b *testing.B) time.Duration {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	fields := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
	var utime, stime int64
	if len(fields) < 13 {
		b.Fatalf("unexpected /proc stat: %s", st)
	}
	fmt.Sscan(fields[11], &utime) //nolint:errcheck
	fmt.Sscan(fields[12], &stime) //nolint:errcheck
	return time.Duration(utime+stime) * (time.Second / 100)
}

func microsPer(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}

// metricsAddr is the address of the agent's /metrics listener, from its log.
func (p *agentProc) metricsAddr(b *testing.B) string {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := metricsListenRE.FindStringSubmatch(p.stderr.String()); m != nil {
			return m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("the agent did not log its metrics address:\n%s", p.stderr.String())
	return ""
}

var metricsListenRE = regexp.MustCompile(`msg="serving metrics" listen=(\S+)`)

// usersLatency scrapes the agent's request latency histogram of the /Users
// route: cumulative counts by upper bound ("le").
func usersLatency(b *testing.B, addr string) map[string]float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]float64{}
	const prefix = `roster_http_request_duration_seconds_bucket{route="users",le="`
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		le, count, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		var n float64
		if _, err := fmt.Sscan(count, &n); err == nil {
			out[le] = n
		}
	}
	if _, ok := out["+Inf"]; !ok {
		b.Fatalf("no /Users latency histogram in the agent's metrics:\n%.2000s", body)
	}
	return out
}
