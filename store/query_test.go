package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scim/filter"
	"github.com/rosterhq/roster/agent/scim/schema"
)

// The property under test: for every filter, tx.Query with a Match callback
// that renders the resource as the directory does returns exactly the
// resources that filter.Match (the reference semantics) selects when run over
// every resource in memory. Query compiles what it can to SQL and calls Match
// only for the rest, so any difference is a compile() bug: a condition that is
// not the superset it claims to be, or "exact" when it is not.

const (
	entURN = scim.SchemaEnterpriseUser
	tenant = "t1"
	decoy  = "t2" // same names and ids in another tenant; never returned
)

// fixture is the dataset: what was stored, in insertion (seq) order.
type fixture struct {
	db      *DB
	users   []*Resource
	groups  []*Resource
	members map[string][]Member // group id -> members, ordered by id like tx.Members
}

func (f *fixture) of(kind Kind) []*Resource {
	if kind == KindGroup {
		return f.groups
	}
	return f.users
}

// render builds the SCIM document the directory matches filters against
// (agent/directory/resources.go render and renderMembers): the stored
// document plus id, meta and, for groups, members.
func render(r *Resource, ms []Member) map[string]any {
	d := make(map[string]any, len(r.Doc)+3)
	for k, v := range r.Doc {
		d[k] = v
	}
	d["id"] = r.ID
	d["meta"] = map[string]any{
		"resourceType": string(r.Kind),
		"created":      r.Created.Format(time.RFC3339Nano),
		"lastModified": r.Modified.Format(time.RFC3339Nano),
		"location":     "https://roster.test/scim/" + r.TenantID + "/v2/" + string(r.Kind) + "s/" + r.ID,
		"version":      fmt.Sprintf(`W/"%d"`, r.Version),
	}
	if r.Kind == KindGroup {
		out := make([]any, len(ms))
		for i, m := range ms {
			out[i] = map[string]any{"value": m.Value, "type": string(m.Type), "$ref": "https://roster.test/scim/" + r.TenantID + "/v2/" + string(m.Type) + "s/" + m.Value}
		}
		d["members"] = out
	}
	return d
}

func matchOptions(kind Kind) *filter.Options {
	if kind == KindGroup {
		return &filter.Options{CoreURN: scim.SchemaGroup, CaseExact: schema.GroupType.CaseExact}
	}
	return &filter.Options{CoreURN: scim.SchemaUser, CaseExact: schema.UserType.CaseExact}
}

// matchFunc is the Query.Match callback, as the directory writes it: it reads
// the members from the transaction.
func matchFunc(kind Kind, expr filter.Expr) func(tx *Tx, r *Resource) (bool, error) {
	opts := matchOptions(kind)
	return func(tx *Tx, r *Resource) (bool, error) {
		var ms []Member
		if r.Kind == KindGroup {
			var err error
			if ms, err = tx.Members(r.Seq); err != nil {
				return false, err
			}
		}
		return filter.Match(expr, render(r, ms), opts), nil
	}
}

// want evaluates expr over every resource of kind in memory, in seq order.
func (f *fixture) want(kind Kind, expr filter.Expr) []*Resource {
	opts := matchOptions(kind)
	var out []*Resource
	for _, r := range f.of(kind) {
		if filter.Match(expr, render(r, f.members[r.ID]), opts) {
			out = append(out, r)
		}
	}
	return out
}

// jsonRoundTrip gives doc the shape it has after the store read it back.
func jsonRoundTrip(t testing.TB, doc map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// specialUsers are hand-written documents aimed at compile()'s weak spots:
// case folding, GLOB metacharacters, NULL columns, several work emails,
// booleans sent as strings, extension attributes.
var specialUsers = []struct {
	id  string
	doc map[string]any
}{
	{"u-ada", map[string]any{
		"userName": "Ada.Lovelace@Example.com", "displayName": "Ada Lovelace", "active": true, "externalId": "EXT-001",
		"title": "Engineer", "name": map[string]any{"givenName": "Ada", "familyName": "Lovelace"},
		"emails": []any{map[string]any{"type": "work", "value": "ada@example.com", "primary": true}},
		entURN:   map[string]any{"department": "Engineering", "manager": "U-Grace", "employeeNumber": "1815"},
	}},
	{"U-Grace", map[string]any{
		"userName": "grace@example.com", "displayName": "Grace Hopper", "active": "False", "externalId": "ext-001",
		"title": "Rear Admiral", "name": map[string]any{"givenName": "Grace", "familyName": "Hopper"},
		"emails": []any{
			map[string]any{"type": "work", "value": "grace@example.com"},
			map[string]any{"type": "work", "value": "G.Hopper@Navy.mil"},
		},
		entURN: map[string]any{"department": "Navy"},
	}},
	{"u-glob", map[string]any{"userName": "a*b?[c]@example.com", "displayName": "a*b?[c]"}},
	{"u-globlike", map[string]any{"userName": "axbyc]@example.com", "displayName": "AXBYC", "active": true}},
	{"u-bracket", map[string]any{"userName": "a[b]c@example.com", "displayName": "[bracket]", "externalId": "X*Y", "active": false}},
	{"u-kivanc", map[string]any{
		"userName": "kıvanç.yılmaz@example.com", "displayName": "Kıvanç Yılmaz", "active": true,
		"emails": []any{map[string]any{"type": "work", "value": "Kıvanç@Example.com"}},
	}},
	{"u-nikos", map[string]any{"userName": "nikos@example.gr", "displayName": "Νίκος Παπαδόπουλος", "active": true, "title": "Μηχανικός"}},
	{"u-emile", map[string]any{"userName": "Émile.Zola@example.fr", "displayName": "Émile Zola", "active": "true", "externalId": "émile"}},
	{"u-min", map[string]any{"userName": "minimal@example.com"}},
	{"u-home", map[string]any{"userName": "home.only@example.com", "displayName": "Home Only",
		"emails": []any{map[string]any{"type": "home", "value": "X@Home.net"}}}},
	{"u-capwork", map[string]any{"userName": "capwork@example.com",
		"emails": []any{map[string]any{"type": "Work", "value": "CapWork@Example.COM"}}}},
	{"u-dana", map[string]any{"userName": "dana@example.com", "displayName": "Dana", "active": false,
		"emails": []any{map[string]any{"type": "home", "value": "ada@example.com"}, map[string]any{"type": "work", "value": "dana@example.com"}}}},
	{"u-num", map[string]any{"userName": "12345", "displayName": "Numbered", "externalId": "00123"}},
	{"u-pct", map[string]any{"userName": "100%_off@example.com", "displayName": "Percent_Under"}},
	{"u-quote", map[string]any{"userName": `o"brien@example.com`, "displayName": "O'Brien", "title": "engineer"}},
	{"u-zed", map[string]any{"userName": "ZED@EXAMPLE.COM", "displayName": "zed", "active": true, "externalId": "zed",
		entURN: map[string]any{"department": "engineering", "manager": "u-ada"}}},
	{"u-emptywork", map[string]any{"userName": "emptywork@example.com",
		"emails": []any{map[string]any{"type": "work", "value": ""}, map[string]any{"type": "other", "value": "other@example.com"}}}},
	{"u-3work", map[string]any{"userName": "three@example.com", "active": true,
		"emails": []any{
			map[string]any{"type": "work", "value": "one@example.com"},
			map[string]any{"type": "WORK", "value": "Two@Example.com"},
			map[string]any{"type": "work", "value": "three@example.com", "primary": true},
		}}},
}

var (
	firstNames = []string{"alice", "Bob", "carol", "DAVE", "eve", "Frank", "gina", "Hugo", "ines", "Jon", "ÖZGE", "björn", "Zoë"}
	lastNames  = []string{"Smith", "jones", "O'Neil", "Nguyen", "müller", "Brown", "DE LA CRUZ", "Li", "Ada"}
	domains    = []string{"example.com", "Example.COM", "contoso.onmicrosoft.com", "sub.example.org"}
	titles     = []string{"Engineer", "engineer", "Manager", "Sales Rep", "a*b", "CTO"}
	depts      = []string{"Engineering", "engineering", "Sales", "Support"}
)

// buildFixture stores ~60 users and ~15 groups in tenant t1 (and a few decoys
// with the same names and ids in t2).
func buildFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{db: openTest(t, Options{}), members: map[string][]Member{}}
	addTenant(t, f.db, tenant)
	addTenant(t, f.db, decoy)
	rng := rand.New(rand.NewPCG(2024, 7))
	base := time.Date(2024, 1, 15, 9, 30, 0, 0, time.UTC)
	n := 0
	stamp := func(r *Resource) {
		r.Created = base.Add(time.Duration(n)*37*time.Hour + time.Duration(n)*1234567)
		r.Modified = r.Created.Add(time.Duration(n%5)*24*time.Hour + time.Duration(n))
		r.Version = int64(1 + n%3)
		n++
	}
	canon := func(rt *schema.ResourceType, in map[string]any) map[string]any {
		doc, err := rt.Canonicalize(in)
		if err != nil {
			t.Fatalf("canonicalize %v: %v", in, err)
		}
		return jsonRoundTrip(t, doc)
	}
	var userIDs []string
	for _, s := range specialUsers {
		r := &Resource{TenantID: tenant, Kind: KindUser, ID: s.id, Doc: canon(schema.UserType, s.doc)}
		stamp(r)
		f.users = append(f.users, r)
		userIDs = append(userIDs, s.id)
	}
	for len(f.users) < 60 {
		i := len(f.users)
		first, last := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
		id := fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Uint64()&(1<<48-1))
		if i%4 == 0 {
			id = strings.ToUpper(id)
		}
		userName := fmt.Sprintf("%s.%s%d@%s", first, strings.ReplaceAll(last, " ", ""), i, domains[rng.IntN(len(domains))])
		doc := map[string]any{"userName": userName, "name": map[string]any{"givenName": first, "familyName": last}}
		if rng.IntN(5) > 0 {
			doc["displayName"] = first + " " + last
		}
		switch rng.IntN(4) {
		case 0: // missing
		case 1:
			doc["active"] = true
		case 2:
			doc["active"] = false
		case 3:
			doc["active"] = []string{"True", "false"}[rng.IntN(2)]
		}
		work := strings.ToLower(first) + "." + strings.ToLower(strings.ReplaceAll(last, " ", "")) + fmt.Sprint(i) + "@example.com"
		switch rng.IntN(5) {
		case 0: // no emails
		case 1:
			doc["emails"] = []any{map[string]any{"type": "work", "value": work}}
		case 2:
			doc["emails"] = []any{map[string]any{"type": "work", "value": strings.ToUpper(work)}, map[string]any{"type": "home", "value": "home" + fmt.Sprint(i) + "@mail.test"}}
		case 3:
			doc["emails"] = []any{map[string]any{"type": "work", "value": work}, map[string]any{"type": "work", "value": "alt" + fmt.Sprint(i) + "@example.com"}}
		case 4:
			doc["emails"] = []any{map[string]any{"type": "other", "value": work}}
		}
		if rng.IntN(2) == 0 {
			doc["externalId"] = fmt.Sprintf("EXT-%03d", i)
		}
		if rng.IntN(3) == 0 {
			doc["title"] = titles[rng.IntN(len(titles))]
		}
		ent := map[string]any{}
		if rng.IntN(2) == 0 {
			ent["department"] = depts[rng.IntN(len(depts))]
		}
		if rng.IntN(3) == 0 {
			ent["manager"] = map[string]any{"value": userIDs[rng.IntN(len(userIDs))]}
		}
		if len(ent) > 0 {
			doc[entURN] = ent
		}
		r := &Resource{TenantID: tenant, Kind: KindUser, ID: id, Doc: canon(schema.UserType, doc)}
		stamp(r)
		f.users = append(f.users, r)
		userIDs = append(userIDs, id)
	}

	groupSpecs := []struct {
		id, name, ext string
		members       []string // user ids or group ids; "*N" adds N random users
	}{
		{"g-eng", "Engineering", "grp-1", []string{"u-ada", "u-zed", "U-Grace", "*8"}},
		{"g-leads", "engineering-leads", "", []string{"u-ada", "g-eng"}},
		{"g-sales", "Sales", "GRP-2", []string{"*10"}},
		{"g-glob", "a*b?[c] group", "", []string{"u-glob", "u-bracket"}},
		{"g-globlike", "axbyc group", "x*y", []string{"u-globlike"}},
		{"g-empty", "Empty Group", "", nil},
		{"g-nikos", "ΝΊΚΟΣ fans", "", []string{"u-nikos"}},
		{"g-kivanc", "Kıvanç takımı", "", []string{"u-kivanc", "g-nikos"}},
		{"G-Upper", "UPPER CASE ID", "", []string{"*3"}},
		{"g-parent", "Nested Parent", "grp-parent", []string{"g-eng", "g-sales", "g-empty", "u-min"}},
		{"g-pct", "100% _done_", "", []string{"u-pct"}},
		{"g-quote", `say "hi"`, "", []string{"u-quote", "*2"}},
		{"g-sales2", "sales team", "", []string{"*5", "u-ada"}},
		{"g-all", "Everyone", "grp-all", []string{"*60"}},
		{"g-ms", "Team Émile", "", []string{"u-emile", "u-ada", "U-Grace"}},
	}
	for _, g := range groupSpecs {
		doc := map[string]any{"displayName": g.name}
		if g.ext != "" {
			doc["externalId"] = g.ext
		}
		r := &Resource{TenantID: tenant, Kind: KindGroup, ID: g.id, Doc: canon(schema.GroupType, doc)}
		stamp(r)
		f.groups = append(f.groups, r)
		set := map[string]Kind{}
		for _, m := range g.members {
			var k int
			if _, err := fmt.Sscanf(m, "*%d", &k); err == nil {
				for _, j := range rng.Perm(len(userIDs))[:k] {
					set[userIDs[j]] = KindUser
				}
				continue
			}
			set[m] = KindUser
			if strings.HasPrefix(strings.ToLower(m), "g-") {
				set[m] = KindGroup
			}
		}
		var ms []Member
		for id, k := range set {
			ms = append(ms, Member{Value: id, Type: k})
		}
		sort.Slice(ms, func(i, j int) bool { return ms[i].Value < ms[j].Value })
		f.members[g.id] = ms
	}

	mustWrite(t, f.db, func(tx *Tx) error {
		for _, r := range append(append([]*Resource{}, f.users...), f.groups...) {
			if err := tx.InsertResource(r); err != nil {
				return err
			}
		}
		for _, g := range f.groups {
			if _, err := tx.AddMembers(tenant, g.Seq, f.members[g.ID]); err != nil {
				return err
			}
		}
		// Decoys: the same ids and names in another tenant, all members of one group.
		dg := &Resource{TenantID: decoy, Kind: KindGroup, ID: "g-eng", Doc: map[string]any{"displayName": "Engineering"}, Created: base, Modified: base, Version: 1}
		if err := tx.InsertResource(dg); err != nil {
			return err
		}
		for _, u := range f.users[:8] {
			d := *u
			d.TenantID, d.Seq = decoy, 0
			if err := tx.InsertResource(&d); err != nil {
				return err
			}
			if _, err := tx.AddMembers(decoy, dg.Seq, []Member{{u.ID, KindUser}}); err != nil {
				return err
			}
		}
		return nil
	})
	return f
}

func ids(rs []*Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// diff describes how got differs from want, naming each resource.
func diff(f *fixture, got, want []string) string {
	name := map[string]string{}
	for _, r := range append(append([]*Resource{}, f.users...), f.groups...) {
		n, _ := r.Doc["userName"].(string)
		if r.Kind == KindGroup {
			n, _ = r.Doc["displayName"].(string)
		}
		name[r.ID] = n
	}
	in := func(s []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range s {
			m[x] = true
		}
		return m
	}
	g, w := in(got), in(want)
	var missing, extra []string
	for _, x := range want {
		if !g[x] {
			missing = append(missing, fmt.Sprintf("%s (%q)", x, name[x]))
		}
	}
	for _, x := range got {
		if !w[x] {
			extra = append(extra, fmt.Sprintf("%s (%q)", x, name[x]))
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return fmt.Sprintf("same set, different order:\n got %v\nwant %v", got, want)
	}
	return fmt.Sprintf("missing %s; extra %s", abbrev(missing), abbrev(extra))
}

// abbrev lists the first few items and how many more there are.
func abbrev(s []string) string {
	const n = 4
	if len(s) <= n {
		return fmt.Sprint(s)
	}
	return fmt.Sprintf("%v and %d more", s[:n], len(s)-n)
}

// describe shows how Query compiled expr, for failure messages.
func describe(kind Kind, expr filter.Expr) string {
	c := compile(testBackend(), kind, expr)
	return fmt.Sprintf("compiled: %s %v exact=%v", c.sql, c.args, c.exact)
}

// checkFilter runs one filter through Query (all, total only, and several
// pages) and compares with the in-memory reference. It returns false when the
// set differs.
func (f *fixture) checkFilter(t *testing.T, kind Kind, src string) bool {
	t.Helper()
	expr, err := filter.Parse(src)
	if err != nil {
		t.Fatalf("Parse(%s): %v", src, err)
	}
	want := ids(f.want(kind, expr))
	query := func(start, count int) (*Page, error) {
		var page *Page
		err := f.db.Read(t.Context(), func(tx *Tx) (err error) {
			page, err = tx.Query(Query{TenantID: tenant, Kind: kind, Filter: expr, Match: matchFunc(kind, expr), StartIndex: start, Count: count})
			return err
		})
		return page, err
	}
	page, err := query(1, -1)
	if err != nil {
		t.Errorf("%s filter %s: Query: %v", kind, src, err)
		return false
	}
	got := ids(page.Resources)
	if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s filter %s\n%s\nQuery returned %d, filter.Match selects %d: %s", kind, src, describe(kind, expr), len(got), len(want), diff(f, got, want))
		return false
	}
	if page.Total != len(want) {
		t.Errorf("%s filter %s: Total = %d, want %d", kind, src, page.Total, len(want))
	}
	// Lazy reads (the directory's list without a projection) select the
	// same resources; Match decodes what it needs.
	f.checkLazy(t, kind, src, expr, want)
	// Count 0 asks for the total only.
	if p, err := query(1, 0); err != nil || p.Total != len(want) || len(p.Resources) != 0 {
		t.Errorf("%s filter %s, count 0: got total %v, %d resources, err %v; want total %d, none", kind, src, totalOf(p), lenOf(p), err, len(want))
	}
	// Pages are windows of the full ordered result (RFC 7644 §3.4.2.4).
	windows := [][2]int{{0, 3}, {3, 4}, {max(len(want)-1, 1), 5}}
	for _, w := range windows {
		p, err := query(w[0], w[1])
		if err != nil {
			t.Errorf("%s filter %s, page %v: %v", kind, src, w, err)
			continue
		}
		start := max(w[0], 1) - 1
		end := min(start+w[1], len(want))
		var wantPage []string
		if start < len(want) {
			wantPage = want[start:end]
		}
		if g := ids(p.Resources); !reflect.DeepEqual(g, wantPage) && !(len(g) == 0 && len(wantPage) == 0) || p.Total != len(want) {
			t.Errorf("%s filter %s, startIndex %d count %d: got %v total %d, want %v total %d", kind, src, w[0], w[1], g, p.Total, wantPage, len(want))
		}
	}
	return true
}

// checkLazy runs expr with Query.Lazy and a Match that decodes on demand, as
// the directory does, and checks the ids and the stored JSON of the result.
func (f *fixture) checkLazy(t *testing.T, kind Kind, src string, expr filter.Expr, want []string) {
	t.Helper()
	match := matchFunc(kind, expr)
	var page *Page
	err := f.db.Read(t.Context(), func(tx *Tx) (err error) {
		page, err = tx.Query(Query{TenantID: tenant, Kind: kind, Filter: expr, Lazy: true, Count: -1,
			Match: func(tx *Tx, r *Resource) (bool, error) {
				if err := r.Decode(); err != nil {
					return false, err
				}
				return match(tx, r)
			}})
		return err
	})
	if err != nil {
		t.Errorf("%s filter %s, lazy: Query: %v", kind, src, err)
		return
	}
	if got := ids(page.Resources); !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 || page.Total != len(want) {
		t.Errorf("%s filter %s, lazy: got %v total %d, want %v", kind, src, got, page.Total, want)
		return
	}
	byID := map[string]*Resource{}
	for _, r := range f.of(kind) {
		byID[r.ID] = r
	}
	for _, r := range page.Resources {
		var doc map[string]any
		if err := json.Unmarshal(r.Raw, &doc); err != nil || !reflect.DeepEqual(doc, byID[r.ID].Doc) {
			t.Errorf("%s filter %s, lazy: %s Raw = %s (%v), want the stored document %v", kind, src, r.ID, r.Raw, err, byID[r.ID].Doc)
		}
	}
}

func totalOf(p *Page) any {
	if p == nil {
		return nil
	}
	return p.Total
}

func lenOf(p *Page) int {
	if p == nil {
		return 0
	}
	return len(p.Resources)
}

// ts formats the creation (or modification) time of a fixture resource with
// an offset, optionally shifted.
func ts(t time.Time, shift time.Duration, zone *time.Location) string {
	return t.Add(shift).In(zone).Format(time.RFC3339Nano)
}

var plus0530 = time.FixedZone("IST", 5*3600+1800)

func userFilters(f *fixture) []string {
	c20, m20 := f.users[20].Created, f.users[20].Modified
	q := func(s string) string { return quote(s) }
	return []string{
		// userName: folded column, case-insensitive (RFC 7643 §4.1.1).
		`userName eq "Ada.Lovelace@Example.com"`,
		`userName eq "ada.lovelace@example.com"`,
		`userName eq "ADA.LOVELACE@EXAMPLE.COM"`,
		// A unique key (queryOne) alone, in a conjunction, and in a disjunction.
		`userName eq "ada.lovelace@example.com" and active eq true`,
		`active eq false and userName eq "ada.lovelace@example.com"`,
		`userName eq "ada.lovelace@example.com" or userName eq "KIVANÇ.YILMAZ@EXAMPLE.COM"`,
		`userName eq "nobody@example.com"`,
		`userName ne "ada.lovelace@example.com"`,
		`userName co "LOVE"`,
		`userName sw "ada"`,
		`userName ew "@EXAMPLE.COM"`,
		`userName sw O`,
		// GLOB metacharacters must match literally.
		`userName sw "a*b?[c]"`,
		`userName sw "a*b"`,
		`userName ew "?[c]@example.com"`,
		`userName ew "c]@example.com"`,
		`userName co "["`,
		`userName co "]"`,
		`userName co "*"`,
		`userName co "%"`,
		`userName co "_off"`,
		`userName eq ` + q(`o"brien@example.com`),
		`userName sw ""`, `userName co ""`, `userName ew ""`,
		`userName gt "m"`, `userName le "b"`,
		`userName pr`, `userName eq null`, `userName ne null`,
		`userName eq 12345`, `userName gt 100`, `userName eq true`,
		// Case folding beyond ASCII: Match folds with ToLower(ToUpper(s)).
		`userName eq "ÉMILE.ZOLA@EXAMPLE.FR"`,
		`userName eq "KIVANÇ.YILMAZ@EXAMPLE.COM"`,
		`userName sw "KIV"`,
		`displayName eq "ΝΊΚΟΣ ΠΑΠΑΔΌΠΟΥΛΟΣ"`,
		`displayName co "νίκος"`,
		// displayName: folded, nullable.
		`displayName eq "émile zola"`,
		`displayName pr`, `displayName eq null`, `displayName ne null`, `not (displayName pr)`,
		`displayName sw "A"`, `displayName eq "a*b?[c]"`, `displayName co "*"`, `displayName sw "[b"`,
		`displayName ne "Dana"`, `not (displayName eq "Dana")`, `displayName co "_"`,
		// externalId and id: case-exact.
		`externalId eq "EXT-001"`, `externalId eq "ext-001"`, `externalId eq null`, `externalId pr`, `externalId ne null`,
		`externalId sw "EXT"`, `externalId co "*"`, `externalId eq "X*Y"`, `externalId ew "*Y"`, `externalId eq 123`, `externalId eq "00123"`,
		`externalId ne "EXT-001"`, `externalId gt "EXT-050"`,
		`id eq "u-ada"`, `id eq "U-ADA"`, `id ne "u-ada"`, `id sw "u-"`, `id sw "U"`, `id co "-4"`,
		`id eq ` + q(f.users[40].ID), `id eq ` + q(strings.ToLower(f.users[40].ID)),
		// active: boolean column, NULL when absent.
		`active eq true`, `active eq false`, `active ne true`, `active ne false`, `active pr`, `active eq null`, `active ne null`,
		`not (active eq true)`, `active eq "true"`, `active eq "False"`, `active eq 1`,
		// Work email: an indexed superset checked against the document.
		`emails[type eq "work"].value eq "ada@example.com"`,
		`emails[type eq "work"].value eq "ADA@EXAMPLE.COM"`,
		`emails[type eq "work"].value eq "g.hopper@navy.mil"`,
		`emails[type eq "work"].value eq "grace@example.com"`,
		`emails[type eq "work"].value eq "two@example.com"`,
		`emails[type eq "work"].value eq "x@home.net"`,
		`emails[type eq "Work"].value eq "capwork@example.com"`,
		`emails[type eq "work"].value eq "KIVANÇ@EXAMPLE.COM"`,
		`emails[type eq "work"].value eq ""`,
		`emails[type eq "work"].value pr`,
		`not (emails[type eq "work"].value pr)`,
		`emails[type eq "work"].value eq null`,
		`emails[type eq "work"].value co "navy"`,
		`emails[type eq "work"].value ne "ada@example.com"`,
		`emails[type eq "work"]`, `emails[type eq "home"]`,
		`emails.value eq "ada@example.com"`, `emails eq "ada@example.com"`, `emails pr`, `emails eq null`,
		`emails[type eq "work" and value ew ".mil"]`,
		`emails[value eq "dana@example.com"].value pr`,
		`urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"].value eq "ada@example.com"`,
		`emails[urn:ietf:params:scim:schemas:core:2.0:User:type eq "work"].value pr`,
		`emails[urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:type eq "work"].value pr`,
		// Dates: chronological; the store compares unix nanoseconds.
		`meta.created gt ` + q(ts(c20, 0, time.UTC)),
		`meta.created ge ` + q(ts(c20, 0, time.UTC)),
		`meta.created eq ` + q(ts(c20, 0, time.UTC)),
		`meta.created eq ` + q(ts(c20, 0, plus0530)),
		`meta.created eq ` + q(ts(c20, time.Nanosecond, time.UTC)),
		`meta.created lt ` + q(ts(c20, 0, plus0530)),
		`meta.created le ` + q(ts(c20, 0, time.UTC)),
		`meta.created ne ` + q(ts(c20, 0, time.UTC)),
		`meta.lastModified gt ` + q(ts(m20, -time.Nanosecond, time.UTC)),
		`meta.lastModified le ` + q(ts(m20, 0, plus0530)),
		`meta.created gt "2024-03-01"`,
		`meta.created gt "2024-03-01t00:00:00z"`,
		`meta.created gt "0001-01-01T00:00:00Z"`,
		`meta.created lt "9999-12-31T23:59:59Z"`,
		`meta.lastModified gt "1600-01-01T00:00:00Z"`,
		`meta.created lt "2300-01-01T00:00:00Z"`,
		`meta.created pr`, `meta.created eq null`, `meta.created sw "2024"`, `meta.resourceType eq "User"`,
		// URN-qualified names (RFC 7644 §3.10).
		`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ada.lovelace@example.com"`,
		`URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:userName sw "a"`,
		`urn:ietf:params:scim:schemas:core:2.0:Group:userName eq "ada.lovelace@example.com"`,
		`urn:ietf:params:scim:schemas:core:2.0:Group:displayName pr`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Engineering"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "U-Grace"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "u-ada"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName eq "ada.lovelace@example.com"`,
		`manager eq "U-Grace"`, `department eq "engineering"`,
		// Attributes the store does not index, and unknown ones.
		`title eq "Engineer"`, `title pr`, `name.familyName eq "lovelace"`, `name.givenName sw "A"`,
		`unknownAttr eq "x"`, `unknownAttr pr`, `not (unknownAttr pr)`, `unknownAttr ne "x"`,
		`members eq "u-ada"`, `groups eq "g-eng"`,
		// Logic.
		`userName sw "a" and active eq true`,
		`userName sw "a" or displayName co "zola"`,
		`(active eq false or active eq null) and emails[type eq "work"].value pr`,
		`not (userName sw "a" or active eq true)`,
		`not (userName sw "a") and not (emails[type eq "work"].value eq "ada@example.com")`,
		`userName sw "a" and (title pr or externalId pr)`,
		`not (not (active eq true))`,
		`not (title eq "Engineer")`,
		`displayName eq "x" or not (displayName ne "Ada Lovelace")`,
		`not (displayName eq "x" or externalId eq "EXT-001")`,
		`not (displayName eq "Dana" and active eq false)`,
		`id eq "u-ada" and members eq "x"`,
		`(userName eq "grace@example.com" or userName eq "ZED@example.com") and not (active eq true)`,
		`userName ew ".com" and not (emails[type eq "work"].value eq "ada@example.com" or active ne true)`,
	}
}

func groupFilters(f *fixture) []string {
	q := func(s string) string { return quote(s) }
	c7 := f.groups[7].Created
	return []string{
		`displayName eq "Engineering"`, `displayName eq "ENGINEERING"`, `displayName sw "eng"`, `displayName co "*"`,
		`displayName eq "a*b?[c] group"`, `displayName sw "a*b"`, `displayName sw "a*b?"`, `displayName ew "team"`,
		`displayName ne "sales"`, `displayName gt "m"`, `displayName pr`, `displayName co "%"`, `displayName co "_d"`,
		`displayName eq ` + q(`say "hi"`),
		`displayName eq "νίκος fans"`, `displayName eq "KIVANÇ TAKIMI"`, `displayName eq "team émile"`,
		`members eq "u-ada"`, `members eq "U-ADA"`, `members ne "u-ada"`, `members.value eq "u-ada"`,
		`members[value eq "u-ada"]`, `members[value eq "g-eng"]`, `members eq "g-nikos"`, `members eq "U-Grace"`,
		`members pr`, `not (members pr)`, `members eq null`, `members[type eq "Group"]`, `members.type eq "Group"`,
		`members[value eq "u-ada" and type eq "User"]`, `members[value ne "u-ada"]`, `members co "ada"`, `members[value eq 12345]`,
		`members.display pr`, `members eq ` + q(f.users[45].ID),
		`id eq "g-eng" and members eq "u-ada"`,
		`id eq "g-eng" and members[value eq "u-ada"]`,
		`id eq "g-eng" and members eq "u-nobody"`,
		`id eq "g-eng" and (members eq "u-ada" or members eq "u-min")`,
		`id eq "g-parent" and members eq "g-eng"`,
		`members[urn:ietf:params:scim:schemas:core:2.0:Group:value eq "u-ada"]`,
		`members[urn:example:params:ext:value eq "u-ada"]`,
		`urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "sales"`,
		`urn:ietf:params:scim:schemas:core:2.0:User:displayName eq "sales"`,
		`urn:ietf:params:scim:schemas:core:2.0:Group:members eq "u-ada"`,
		`externalId eq "grp-1"`, `externalId eq "GRP-1"`, `externalId eq null`, `externalId sw "grp"`, `externalId eq "x*y"`,
		`id eq "G-Upper"`, `id eq "g-upper"`, `id sw "g-"`,
		`meta.created lt ` + q(ts(c7, 0, time.UTC)), `meta.lastModified ge ` + q(ts(f.groups[7].Modified, 0, plus0530)),
		`meta.created eq ` + q(ts(c7, 0, plus0530)),
		`userName eq "Engineering"`, `active eq true`, `active ne true`,
		`not (displayName eq "Sales") and members pr`,
		`displayName sw "e" or members eq "u-pct"`,
		`not (members eq "u-ada" or members eq "U-Grace")`,
		`not (members[value eq "u-ada"]) and displayName co "a"`,
	}
}

// quote renders s as a JSON string literal for a filter.
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func TestQueryMatchesReference(t *testing.T) {
	f := buildFixture(t)
	t.Run("fixture stored", func(t *testing.T) {
		for _, kind := range []Kind{KindUser, KindGroup} {
			var page *Page
			mustRead(t, f.db, func(tx *Tx) (err error) {
				page, err = tx.Query(Query{TenantID: tenant, Kind: kind, Count: -1})
				return err
			})
			if got, want := ids(page.Resources), ids(f.of(kind)); !reflect.DeepEqual(got, want) {
				t.Fatalf("all %ss = %v, want %v", kind, got, want)
			}
			for i, r := range page.Resources {
				if want := f.of(kind)[i]; !reflect.DeepEqual(r.Doc, want.Doc) || !r.Created.Equal(want.Created) || !r.Modified.Equal(want.Modified) {
					t.Errorf("%s %s stored as %+v, want %+v", kind, r.ID, r, want)
				}
			}
		}
		for _, g := range f.groups {
			if got, want := membersOf(t, f.db, g.Seq), f.members[g.ID]; !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 {
				t.Errorf("members of %s = %v, want %v", g.ID, got, want)
			}
		}
	})
	for _, tc := range []struct {
		kind    Kind
		filters []string
	}{{KindUser, userFilters(f)}, {KindGroup, groupFilters(f)}} {
		t.Run(string(tc.kind), func(t *testing.T) {
			for _, src := range tc.filters {
				f.checkFilter(t, tc.kind, src)
			}
		})
	}
}

// sortKey is the directory's SortKey (agent/directory/resources.go sortKey)
// for the simple paths used here: the value, lower-cased; "" when absent.
func sortKey(path string) func(r *Resource) string {
	return func(r *Resource) string {
		var v any = render(r, nil)
		for _, part := range strings.Split(path, ".") {
			m, _ := v.(map[string]any)
			v = m[part]
		}
		switch x := v.(type) {
		case string:
			return strings.ToLower(x)
		case nil:
			return ""
		default:
			return fmt.Sprint(x)
		}
	}
}

func TestQuerySortAndPage(t *testing.T) {
	f := buildFixture(t)
	createdKey := func(r *Resource) string { return r.Created.Format("2006-01-02T15:04:05.000000000") }
	tests := []struct {
		kind   Kind
		filter string // "" for none
		sortBy string
		desc   bool
		key    func(r *Resource) string // the reference order's key; "" sorts last
	}{
		{KindUser, "", "userName", false, sortKey("userName")},
		{KindUser, "", "userName", true, sortKey("userName")},
		{KindUser, "", "UserName", false, sortKey("userName")},
		{KindUser, `active eq true`, "userName", true, sortKey("userName")},
		{KindUser, `title pr`, "userName", false, sortKey("userName")}, // inexact filter, SQL order kept
		{KindUser, "", "displayName", false, sortKey("displayName")},
		{KindUser, "", "displayName", true, sortKey("displayName")},
		{KindUser, `emails[type eq "work"].value pr or active eq false`, "displayName", true, sortKey("displayName")},
		{KindUser, "", "meta.created", true, createdKey},
		{KindUser, `userName co "a"`, "meta.lastModified", false, func(r *Resource) string { return r.Modified.Format("2006-01-02T15:04:05.000000000") }},
		{KindUser, "", "active", false, sortKey("active")},
		{KindUser, "", "active", true, sortKey("active")},
		{KindUser, "", "id", true, func(r *Resource) string { return r.ID }},
		{KindUser, "", "externalId", false, func(r *Resource) string { s, _ := r.Doc["externalId"].(string); return s }},
		{KindUser, "", "title", false, sortKey("title")},
		{KindUser, "", "title", true, sortKey("title")},
		{KindUser, `userName co "e"`, "name.familyName", false, sortKey("name.familyName")},
		{KindUser, `title pr`, "title", true, sortKey("title")},
		{KindGroup, "", "displayName", false, sortKey("displayName")},
		{KindGroup, "", "displayName", true, sortKey("displayName")},
		{KindGroup, `members pr`, "displayName", false, sortKey("displayName")},
		{KindGroup, `members eq "u-ada" or members[type eq "Group"]`, "displayName", true, sortKey("displayName")},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s %s by %s desc=%v", tt.kind, tt.filter, tt.sortBy, tt.desc)
		t.Run(name, func(t *testing.T) {
			var expr filter.Expr
			if tt.filter != "" {
				var err error
				if expr, err = filter.Parse(tt.filter); err != nil {
					t.Fatal(err)
				}
			}
			var matching []*Resource
			if expr == nil {
				matching = append(matching, f.of(tt.kind)...)
			} else {
				matching = f.want(tt.kind, expr)
			}
			// RFC 7644 §3.4.2.3: missing values sort last in both orders; ties keep insertion order.
			sort.SliceStable(matching, func(i, j int) bool {
				a, b := tt.key(matching[i]), tt.key(matching[j])
				if (a == "") != (b == "") {
					return b == ""
				}
				if tt.desc {
					return a > b
				}
				return a < b
			})
			want := ids(matching)
			q := Query{TenantID: tenant, Kind: tt.kind, Filter: expr, SortBy: tt.sortBy, Descending: tt.desc,
				SortKey: sortKey(tt.sortBy), Count: -1}
			if expr != nil {
				q.Match = matchFunc(tt.kind, expr)
			}
			run := func(start, count int) *Page {
				q := q
				q.StartIndex, q.Count = start, count
				var page *Page
				mustRead(t, f.db, func(tx *Tx) (err error) {
					page, err = tx.Query(q)
					return err
				})
				return page
			}
			page := run(1, -1)
			if got := ids(page.Resources); !reflect.DeepEqual(got, want) {
				t.Fatalf("order:\n got %v\nwant %v", got, want)
			}
			if page.Total != len(want) {
				t.Errorf("Total = %d, want %d", page.Total, len(want))
			}
			if p := run(1, 0); p.Total != len(want) || len(p.Resources) != 0 {
				t.Errorf("count 0: total %d, %d resources; want total %d, none", p.Total, len(p.Resources), len(want))
			}
			for _, start := range []int{1, 2, max(len(want)/2, 1), max(len(want), 1), len(want) + 1} {
				for _, count := range []int{1, 7} {
					p := run(start, count)
					end := min(start-1+count, len(want))
					var wantPage []string
					if start-1 < len(want) {
						wantPage = want[start-1 : end]
					}
					if got := ids(p.Resources); !reflect.DeepEqual(got, wantPage) && len(got)+len(wantPage) > 0 || p.Total != len(want) {
						t.Errorf("startIndex %d count %d: got %v total %d, want %v total %d", start, count, got, p.Total, wantPage, len(want))
					}
				}
			}
		})
	}
}

func TestQueryNeedsMatchForInexactFilters(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, tenant)
	tests := []struct {
		filter  string
		wantErr bool
	}{
		{`userName eq "a"`, false},
		{`title eq "a"`, true},
		{`emails[type eq "work"].value eq "a@b"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			expr, err := filter.Parse(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Read(t.Context(), func(tx *Tx) error {
				_, err := tx.Query(Query{TenantID: tenant, Kind: KindUser, Filter: expr, Count: -1})
				return err
			})
			if got := err != nil; got != tt.wantErr {
				t.Errorf("Query without Match: err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// gen builds random filters from a grammar of the shapes compile() handles
// (and some it does not), with values drawn from the fixture and mutated.
type gen struct {
	rng  *rand.Rand
	f    *fixture
	kind Kind
}

func (g *gen) pick(s []string) string { return s[g.rng.IntN(len(s))] }

// strings collects the string values of a document attribute over the fixture.
func (g *gen) values(get func(r *Resource) []string) []string {
	var out []string
	for _, r := range g.f.of(g.kind) {
		out = append(out, get(r)...)
	}
	if len(out) == 0 {
		out = []string{"x"}
	}
	return out
}

func docString(key string) func(r *Resource) []string {
	return func(r *Resource) []string {
		if s, ok := r.Doc[key].(string); ok {
			return []string{s}
		}
		return nil
	}
}

func emailValues(r *Resource) []string {
	var out []string
	es, _ := r.Doc["emails"].([]any)
	for _, e := range es {
		m, _ := e.(map[string]any)
		if v, ok := m["value"].(string); ok {
			out = append(out, v)
		}
	}
	return out
}

// mutate turns a real value into a literal: as is, re-cased, a piece of it,
// or something with GLOB metacharacters.
func (g *gen) mutate(v string) string {
	rs := []rune(v)
	switch g.rng.IntN(9) {
	case 0, 1:
		return v
	case 2:
		return strings.ToUpper(v)
	case 3:
		return strings.ToLower(v)
	case 4: // toggle the case of some letters
		for i := range rs {
			if g.rng.IntN(2) == 0 {
				if s := strings.ToUpper(string(rs[i])); s != string(rs[i]) && len([]rune(s)) == 1 {
					rs[i] = []rune(s)[0]
				} else if s := strings.ToLower(string(rs[i])); len([]rune(s)) == 1 {
					rs[i] = []rune(s)[0]
				}
			}
		}
		return string(rs)
	case 5: // prefix
		return string(rs[:g.rng.IntN(len(rs)+1)])
	case 6: // suffix
		return string(rs[g.rng.IntN(len(rs)+1):])
	case 7: // middle
		i := g.rng.IntN(len(rs) + 1)
		j := i + g.rng.IntN(len(rs)-i+1)
		return string(rs[i:j])
	}
	return g.pick([]string{"*", "?", "[", "]", "a*b", "[c]", "%", "_", "", "ı", "Σ", "ς", "É"})
}

func (g *gen) stringValue(pool []string) string {
	switch g.rng.IntN(20) {
	case 0:
		return g.pick([]string{"12345", "100", "0", "-1.5", "1e3"})
	case 1:
		return g.pick([]string{"true", "false"})
	case 2:
		return "null"
	}
	return quote(g.mutate(g.pick(pool)))
}

func (g *gen) timeValue(pool []time.Time) string {
	t := pool[g.rng.IntN(len(pool))]
	t = t.Add([]time.Duration{0, 0, time.Nanosecond, -time.Nanosecond, time.Hour, -time.Hour, 24 * time.Hour}[g.rng.IntN(7)])
	switch g.rng.IntN(10) {
	case 0:
		return quote(t.Format("2006-01-02"))
	case 1:
		return quote(t.Format(time.RFC3339))
	case 2:
		return "null"
	}
	zone := time.UTC
	if g.rng.IntN(3) == 0 {
		zone = plus0530
	}
	return quote(t.In(zone).Format(time.RFC3339Nano))
}

var ops = []string{"eq", "eq", "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"}

func (g *gen) atom() string {
	type attr struct {
		path  string
		value func() string
	}
	strs := func(get func(r *Resource) []string) func() string {
		pool := g.values(get)
		return func() string { return g.stringValue(pool) }
	}
	var created, modified []time.Time
	for _, r := range g.f.of(g.kind) {
		created, modified = append(created, r.Created), append(modified, r.Modified)
	}
	idv := strs(func(r *Resource) []string { return []string{r.ID} })
	attrs := []attr{
		{"id", idv},
		{"externalId", strs(docString("externalId"))},
		{"displayName", strs(docString("displayName"))},
		{"meta.created", func() string { return g.timeValue(created) }},
		{"meta.lastModified", func() string { return g.timeValue(modified) }},
		{"unknownAttr", strs(docString("displayName"))},
	}
	if g.kind == KindUser {
		names := strs(docString("userName"))
		attrs = append(attrs,
			attr{"userName", names}, attr{"userName", names},
			attr{"urn:ietf:params:scim:schemas:core:2.0:User:userName", names},
			attr{"active", func() string { return g.pick([]string{"true", "false", "null", `"true"`, `"False"`}) }},
			attr{"active", func() string { return g.pick([]string{"true", "false"}) }},
			attr{`emails[type eq "work"].value`, strs(emailValues)},
			attr{`emails[type eq "work"].value`, strs(emailValues)},
			attr{`emails.value`, strs(emailValues)},
			attr{"title", strs(docString("title"))},
			attr{"name.familyName", strs(func(r *Resource) []string {
				n, _ := r.Doc["name"].(map[string]any)
				s, _ := n["familyName"].(string)
				return []string{s}
			})},
			attr{entURN + ":department", func() string { return quote(g.mutate(g.pick(depts))) }},
		)
	} else {
		var memberIDs []string
		for _, ms := range g.f.members {
			for _, m := range ms {
				memberIDs = append(memberIDs, m.Value)
			}
		}
		mv := func() string { return g.stringValue(memberIDs) }
		attrs = append(attrs,
			attr{"members", mv}, attr{"members", mv}, attr{"members.value", mv},
			attr{"urn:ietf:params:scim:schemas:core:2.0:Group:displayName", strs(docString("displayName"))},
			attr{"members.type", func() string { return quote(g.pick([]string{"User", "Group", "user"})) }},
		)
		if g.rng.IntN(8) == 0 {
			return fmt.Sprintf("members[value eq %s]", mv())
		}
	}
	a := attrs[g.rng.IntN(len(attrs))]
	op := g.pick(ops)
	if op == "pr" {
		return a.path + " pr"
	}
	return a.path + " " + op + " " + a.value()
}

func (g *gen) expr(depth int) string {
	if depth < 3 {
		switch g.rng.IntN(10) {
		case 0, 1:
			return "(" + g.expr(depth+1) + " and " + g.expr(depth+1) + ")"
		case 2:
			return g.expr(depth+1) + " or " + g.expr(depth+1)
		case 3:
			return "not (" + g.expr(depth+1) + ")"
		}
	}
	return g.atom()
}

// TestQueryMatchesReferenceRandom is the fuzz-style variant of
// TestQueryMatchesReference: a few hundred filters from a grammar, with a
// fixed seed so that every run checks the same ones.
func TestQueryMatchesReferenceRandom(t *testing.T) {
	f := buildFixture(t)
	for _, tc := range []struct {
		kind Kind
		n    int
	}{{KindUser, 400}, {KindGroup, 150}} {
		t.Run(string(tc.kind), func(t *testing.T) {
			g := &gen{rng: rand.New(rand.NewPCG(42, uint64(len(tc.kind)))), f: f, kind: tc.kind}
			checked, failed, nonEmpty, exact := 0, 0, 0, 0
			const maxReported = 12
			for tries := 0; checked < tc.n && tries < 10*tc.n; tries++ {
				src := g.expr(0)
				expr, err := filter.Parse(src)
				if err != nil {
					continue // e.g. gt with a boolean: a 400, not a query
				}
				checked++
				if compile(testBackend(), tc.kind, expr).exact {
					exact++
				}
				want := ids(f.want(tc.kind, expr))
				if len(want) > 0 {
					nonEmpty++
				}
				var page *Page
				mustRead(t, f.db, func(tx *Tx) (err error) {
					page, err = tx.Query(Query{TenantID: tenant, Kind: tc.kind, Filter: expr, Match: matchFunc(tc.kind, expr), Count: -1})
					return err
				})
				got := ids(page.Resources)
				if !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 || page.Total != len(want) {
					failed++
					if failed <= maxReported {
						t.Errorf("%s filter %s\n%s\nQuery returned %d (total %d), filter.Match selects %d: %s",
							tc.kind, src, describe(tc.kind, expr), len(got), page.Total, len(want), diff(f, got, want))
					}
				}
			}
			if failed > maxReported {
				t.Errorf("... %d more filters differ", failed-maxReported)
			}
			if checked < tc.n {
				t.Errorf("only %d of %d generated filters parsed", checked, tc.n)
			}
			// Guard against a degenerate generator that only ever selects nothing.
			if nonEmpty < checked/4 {
				t.Errorf("only %d of %d filters select anything; the generator is too narrow", nonEmpty, checked)
			}
			// And one that never reaches the SQL-only path.
			if exact < checked/5 {
				t.Errorf("only %d of %d filters compile exactly; the generator barely tests the SQL", exact, checked)
			}
			t.Logf("%d filters checked, %d compiled exactly, %d select something, %d differ", checked, exact, nonEmpty, failed)
		})
	}
}

// TestQueryHugeCount: a Count larger than what is left must return the rest,
// on the SQL path and on the in-memory path alike.
// TestCompileUnique pins which filters take queryOne, the lookup of at most
// one row by a unique key: TestQueryMatchesReference checks its results.
func TestCompileUnique(t *testing.T) {
	for _, tc := range []struct {
		kind   Kind
		filter string
		unique bool
	}{
		{KindUser, `userName eq "a@example.com"`, true},
		{KindUser, `USERNAME eq "A@example.com"`, true},
		{KindUser, `id eq "u-1"`, true},
		{KindGroup, `displayName eq "Sales"`, true},
		{KindGroup, `id eq "g-1"`, true},
		{KindUser, `userName eq "a@example.com" and active eq true`, true},
		{KindUser, `active eq true and id eq "u-1"`, true},
		{KindUser, `userName eq "a@example.com" or id eq "u-1"`, false},
		{KindUser, `not (userName eq "a@example.com")`, false},
		{KindUser, `userName ne "a@example.com"`, false},
		{KindUser, `userName sw "a"`, false},
		{KindUser, `displayName eq "Ada"`, false}, // not unique for users
		{KindUser, `externalId eq "e-1"`, false},
		{KindUser, `emails[type eq "work"].value eq "a@example.com"`, false},
		{KindUser, `userName eq "a@example.com" and title eq "x"`, false}, // needs Match
		{KindUser, `userName eq null`, false},
	} {
		expr, err := filter.Parse(tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		if got := compile(sqliteDialect, tc.kind, expr).unique; got != tc.unique {
			t.Errorf("%s %s: unique = %v, want %v", tc.kind, tc.filter, got, tc.unique)
		}
	}
}

func TestQueryHugeCount(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, tenant)
	var want []string
	for i := 0; i < 5; i++ {
		r := newUser(tenant, fmt.Sprintf("u%d", i), fmt.Sprintf("user%d@example.com", i))
		r.Doc["title"] = "t"
		insert(t, db, r)
		want = append(want, r.ID)
	}
	for _, src := range []string{`userName pr`, `title eq "t"`} {
		expr, err := filter.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, start := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s from %d", src, start), func(t *testing.T) {
				var page *Page
				err := db.Read(t.Context(), func(tx *Tx) (err error) {
					defer func() {
						if p := recover(); p != nil {
							err = fmt.Errorf("Query panicked: %v", p)
						}
					}()
					page, err = tx.Query(Query{TenantID: tenant, Kind: KindUser, Filter: expr, Match: matchFunc(KindUser, expr),
						StartIndex: start, Count: math.MaxInt})
					return err
				})
				if err != nil {
					t.Fatalf("StartIndex %d Count MaxInt: %v", start, err)
				}
				if got := ids(page.Resources); !reflect.DeepEqual(got, want[start-1:]) || page.Total != 5 {
					t.Errorf("got %v total %d, want %v total 5", got, page.Total, want[start-1:])
				}
			})
		}
	}
}
