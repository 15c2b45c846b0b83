package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/scim/filter"
)

// TestMigrationsMatchAcrossDialects: every SQLite migration has its
// PostgreSQL translation under the same number and name, and no other.
func TestMigrationsMatchAcrossDialects(t *testing.T) {
	lite, err := sqliteDialect.migrationList()
	if err != nil {
		t.Fatal(err)
	}
	pg, err := postgresDialect.migrationList()
	if err != nil {
		t.Fatal(err)
	}
	names := func(ms []migration) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.name)
		}
		return out
	}
	if a, b := strings.Join(names(lite), " "), strings.Join(names(pg), " "); a != b {
		t.Errorf("migrations differ:\n  sqlite:   %s\n  postgres: %s\n(translate each file of store/migrations/ into store/migrations/postgres/)", a, b)
	}
}

func TestPlaceholders(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`SELECT a FROM t WHERE x = ? AND y = ?`, `SELECT a FROM t WHERE x = $1 AND y = $2`},
		{`VALUES (?1, ?2, ?1)`, `VALUES ($1, $2, $1)`},
		{`?2 ?`, `$2 $3`},
		{`WHERE s = '?' AND t = ? AND u = "q?"`, `WHERE s = '?' AND t = $1 AND u = "q?"`},
		{`LIKE ? ESCAPE '\') AND x = ?`, `LIKE $1 ESCAPE '\') AND x = $2`},
		{`it''s ?`, `it''s $1`},
	} {
		if got := placeholders(tt.in); got != tt.want {
			t.Errorf("placeholders(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPostgresRewrites(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"BEGIN IMMEDIATE", "BEGIN ISOLATION LEVEL REPEATABLE READ"},
		{"SELECT g.id, g.doc ->> '$.displayName' FROM g WHERE m = ?", "SELECT g.id, g.doc::jsonb ->> 'displayName' FROM g WHERE m = $1"},
		{"(SELECT json_group_array(json_array(g.id, g.doc ->> '$.displayName')) FROM x)",
			"(SELECT COALESCE(json_agg(json_build_array(g.id, g.doc::jsonb ->> 'displayName')), '[]') FROM x)"},
		{"(instr(name_folded, ?) > 0 OR xinstr(a) OR 'instr(')", "(strpos(name_folded, $1) > 0 OR xinstr(a) OR 'instr(')"},
	} {
		if got := postgresDialect.sql(tt.in); got != tt.want {
			t.Errorf("sql(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
		if got := sqliteDialect.sql(tt.in); got != tt.in {
			t.Errorf("SQLite changed %q to %q", tt.in, got)
		}
	}
}

// TestPostgresMustExist: with MustExist, a database without Roster's schema
// is ErrNoDatabase and is left empty.
func TestPostgresMustExist(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	url := testLocation(t)
	if _, err := Open(ctx, url, Options{MustExist: true}); !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("Open(empty database, MustExist) = %v, want ErrNoDatabase", err)
	}
	db, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, url, Options{MustExist: true})
	if err != nil {
		t.Fatalf("Open(migrated database, MustExist) = %v", err)
	}
	db.Close()
}

// TestPostgresRefusesNewerSchema: a database migrated by a newer roster is
// refused, not downgraded.
func TestPostgresRefusesNewerSchema(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	db := openTest(t, Options{})
	mustWrite(t, db, func(tx *Tx) error {
		_, err := tx.exec(`INSERT INTO schema_migrations(version, name, applied) VALUES (999, '0999_future.sql', 0)`)
		return err
	})
	_, err := Open(ctx, db.Path(), Options{})
	if err == nil || !strings.Contains(err.Error(), "schema version 999") {
		t.Fatalf("Open(newer schema) = %v, want the schema version error", err)
	}
}

// TestPostgresOptions: what has no meaning on PostgreSQL is refused (a size
// bound) or has no effect (Exclusive: agents may share a database), and
// Backup says what to use instead.
func TestPostgresOptions(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	url := testLocation(t)
	if _, err := Open(ctx, url, Options{MaxSize: 1 << 20}); err == nil || !strings.Contains(err.Error(), "SQLite only") {
		t.Errorf("Open(MaxSize) = %v, want an error saying it applies to SQLite only", err)
	}
	a, err := Open(ctx, url, Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, url, Options{Exclusive: true})
	if err != nil {
		t.Fatalf("a second agent on the database: %v", err)
	}
	defer b.Close()
	if err := a.Backup(ctx, t.TempDir()+"/copy.db"); err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("Backup = %v, want an error pointing to pg_dump", err)
	}
}

// TestMemberAddsAcrossAgents: 8 writers × 50 member adds to one group,
// split over two stores on one database, each add bumping the group's
// version (a read-modify-write) and appending a change. No add, version
// bump or change may be lost.
func TestMemberAddsAcrossAgents(t *testing.T) {
	db, other := openTwoAgents(t)
	addTenant(t, db, "t")
	g := newGroup("t", "g", "Group")
	insert(t, db, g)
	const writers, adds = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []*DB{db, other}[w%2]
			for i := range adds {
				id := fmt.Sprintf("u%d-%d", w, i)
				err := s.Write(context.Background(), func(tx *Tx) error {
					r, err := tx.Resource("t", KindGroup, "g")
					if err != nil {
						return err
					}
					if _, err := tx.AddMembers("t", r.Seq, []Member{{id, KindUser}}); err != nil {
						return err
					}
					if err := tx.TouchResource(r.Seq, r.Version+1, t0); err != nil {
						return err
					}
					_, err = tx.AppendChange("t", id, "group.members.added", t0, []byte(`{}`))
					return err
				})
				if err != nil {
					t.Errorf("add %s: %v", id, err)
				}
			}
		}()
	}
	wg.Wait()
	mustRead(t, db, func(tx *Tx) error {
		ms, err := tx.Members(g.Seq)
		if err != nil {
			return err
		}
		r, err := tx.Resource("t", KindGroup, "g")
		if err != nil {
			return err
		}
		last, _, err := tx.ChangeHead("t")
		if err != nil {
			return err
		}
		if len(ms) != writers*adds || r.Version != 1+writers*adds || last != writers*adds {
			t.Errorf("after %d adds: %d members, version %d, last change %d", writers*adds, len(ms), r.Version, last)
		}
		return nil
	})
}

// TestPostgresIndexedFiltersUseIndexes: with sequential scans disabled, the
// plan of every lookup the SCIM API serves from an index must use it (an
// index the planner cannot use would still show a Seq Scan).
func TestPostgresIndexedFiltersUseIndexes(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	db := openTest(t, Options{})
	addTenant(t, db, "t")
	mustWrite(t, db, func(tx *Tx) error {
		for i := range 300 {
			u := newUser("t", fmt.Sprintf("u%d", i), fmt.Sprintf("user%d@example.com", i))
			u.Doc["externalId"] = fmt.Sprintf("x%d", i)
			u.Doc["emails"] = []any{map[string]any{"type": "work", "value": fmt.Sprintf("user%d@example.com", i)}}
			if err := tx.InsertResource(u); err != nil {
				return err
			}
		}
		for i := range 30 {
			g := newGroup("t", fmt.Sprintf("g%d", i), fmt.Sprintf("Group %d", i))
			if err := tx.InsertResource(g); err != nil {
				return err
			}
			var ms []Member
			for j := range 100 {
				ms = append(ms, Member{fmt.Sprintf("u%d", (i*7+j)%300), KindUser})
			}
			if _, err := tx.AddMembers("t", g.Seq, ms); err != nil {
				return err
			}
			if _, err := tx.AppendChange("t", g.ID, "group.created", t0, []byte(`{}`)); err != nil {
				return err
			}
		}
		return nil
	})
	raw, err := sql.Open("pgx", db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range []string{"ANALYZE", "SET enable_seqscan = off"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// filterSQL is the statement Query runs for a filter (queryExact; a
	// superset, such as the work email's, is read the same way, unpaged).
	filterSQL := func(kind Kind, f string, withGroups bool) (string, []any) {
		e, err := filter.Parse(f)
		if err != nil {
			t.Fatal(err)
		}
		cond := compile(postgresDialect, kind, e)
		q := Query{Kind: kind, WithGroups: withGroups}
		return `SELECT ` + q.selectCols() + ` FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND ` + cond.sql + ` ORDER BY r.seq LIMIT ? OFFSET ?`,
			append(append([]any{"t", string(kind)}, cond.args...), 100, 0)
	}
	type shape struct {
		name  string
		index string // the index the plan must use
		sql   string
		args  []any
	}
	var shapes []shape
	for _, f := range []struct {
		name, index string
		kind        Kind
		filter      string
		withGroups  bool
	}{
		{"userName eq", "resources_name", KindUser, `userName eq "USER7@example.com"`, false},
		{"userName eq with groups", "members_member", KindUser, `userName eq "user7@example.com"`, true},
		{"externalId eq", "resources_external_id", KindUser, `externalId eq "x7"`, false},
		{"id eq", "resources_id", KindUser, `id eq "u7"`, false},
		{"work email eq", "resources_work_email", KindUser, `emails[type eq "work"].value eq "user7@example.com"`, false},
		{"group displayName eq", "resources_name", KindGroup, `displayName eq "group 7"`, false},
		{"group by member", "members_pkey", KindGroup, `displayName eq "group 7" and members[value eq "u7"]`, false},
	} {
		s, args := filterSQL(f.kind, f.filter, f.withGroups)
		shapes = append(shapes, shape{f.name, f.index, s, args})
	}
	shapes = append(shapes,
		shape{"resource by id", "resources_id", `SELECT ` + resourceCols + ` FROM resources WHERE tenant_id = ? AND kind = ? AND id = ?`, []any{"t", "User", "u7"}},
		shape{"members of a group", "members_pkey", `SELECT member_id, member_type FROM members WHERE group_seq = ? ORDER BY member_id`, []any{1}},
		shape{"groups of a member", "members_member", `SELECT g.id, g.doc ->> '$.displayName' FROM members m JOIN resources g ON g.seq = m.group_seq
			WHERE m.tenant_id = ? AND m.member_id = ?`, []any{"t", "u1"}},
		shape{"change log page", "changes_pkey", `SELECT seq, id, at, type, record FROM changes WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`, []any{"t", 3, 100}},
		shape{"change head", "changes_pkey", `SELECT COALESCE((SELECT max(seq) FROM changes WHERE tenant_id = ?1), (SELECT pruned_through FROM change_cuts WHERE tenant_id = ?1), 0)`, []any{"t"}},
		shape{"token by id", "tokens_pkey", `SELECT ` + tokenCols + ` FROM tokens WHERE id = ?`, []any{"abc"}},
	)
	for _, s := range shapes {
		rows, err := c.QueryContext(ctx, "EXPLAIN "+postgresDialect.sql(s.sql), postgresDialect.args(s.args)...)
		if err != nil {
			t.Errorf("%s: %v", s.name, err)
			continue
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		p := strings.Join(plan, "\n")
		if strings.Contains(p, "Seq Scan") || !strings.Contains(p, s.index) {
			t.Errorf("%s: want a scan of %s and no Seq Scan; plan:\n%s", s.name, s.index, p)
		}
	}
}

// postgresOnly skips a test of PostgreSQL's own behaviour on the SQLite pass.
func postgresOnly(t *testing.T) {
	t.Helper()
	if !testBackend().postgres {
		t.Skip("PostgreSQL only")
	}
}

// TestPostgresReconnects: after the server ended every session of the
// store (a restart or failover looks the same to the agent), the next
// write and read run on new connections.
func TestPostgresReconnects(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	db := openTest(t, Options{Readers: 1})
	addTenant(t, db, "a")
	mustRead(t, db, func(tx *Tx) error { _, err := tx.Tenant("a"); return err })
	raw, err := sql.Open("pgx", db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	// The writer's, the reader's, and keepStats's when it has looked.
	if n < 2 || n > 3 {
		t.Fatalf("terminated %d sessions, want the writer's and the reader's (and keepStats's)", n)
	}
	addTenant(t, db, "b")
	mustRead(t, db, func(tx *Tx) error { _, err := tx.Tenant("b"); return err })
	if err := db.ReadLatest(ctx, func(tx *Tx) error { _, err := tx.Tenant("b"); return err }); err != nil {
		t.Errorf("ReadLatest after the reconnect: %v", err)
	}
}

// TestPostgresKeepsPlannerStatistics: a store that filled its tables
// analyzes them within seconds (pgstats.go), so that a lookup by id uses
// resources_id. Without statistics PostgreSQL's generic plan for it reads
// every user of the tenant through resources_name.
func TestPostgresKeepsPlannerStatistics(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	db := openTest(t, Options{})
	addTenant(t, db, "t")
	var ids []string
	for i := range 3 {
		mustWrite(t, db, func(tx *Tx) error {
			for j := range 1000 {
				u := newUser("t", fmt.Sprintf("u%d-%d", i, j), fmt.Sprintf("user%d-%d@example.com", i, j))
				if err := tx.InsertResource(u); err != nil {
					return err
				}
				ids = append(ids, u.ID)
			}
			return nil
		})
	}
	raw, err := sql.Open("pgx", db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// last_analyze is set by ANALYZE, never by autovacuum (last_autoanalyze).
	// A backend that went idle publishes its row counts within 10 s
	// (PostgreSQL's PGSTAT_IDLE_INTERVAL); keepStats looks every analyzeEvery.
	const within = 10*time.Second + 3*analyzeEvery + 10*time.Second
	deadline := time.Now().Add(within)
	for {
		var analyzed bool
		if err := raw.QueryRowContext(ctx, `SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'resources' AND schemaname = current_schema()`).Scan(&analyzed); err != nil {
			t.Fatal(err)
		}
		if analyzed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("resources not analyzed %s after 3,000 rows were written", within)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `PREPARE by_id(text, text, text) AS SELECT `+resourceCols+` FROM resources WHERE tenant_id = $1 AND kind = $2 AND id = $3`); err != nil {
		t.Fatal(err)
	}
	args := fmt.Sprintf("('t', 'User', '%s')", ids[1234])
	for range 6 { // the sixth execution may take the generic plan
		if _, err := c.ExecContext(ctx, "EXECUTE by_id"+args); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := c.QueryContext(ctx, "EXPLAIN EXECUTE by_id"+args)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, l)
	}
	rows.Close()
	if p := strings.Join(plan, "\n"); !strings.Contains(p, "resources_id") {
		t.Errorf("a lookup by id does not use resources_id after the keeper's ANALYZE:\n%s", p)
	}
}
