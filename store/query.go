package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scim/filter"
)

// Query selects users or groups of one tenant (RFC 7644 §3.4.2).
type Query struct {
	TenantID string
	Kind     Kind
	// Filter is the parsed filter, or nil for all resources.
	Filter filter.Expr
	// Match is the reference evaluation of Filter on one resource. The store
	// compiles what it can to SQL through an allow-listed column map; when part
	// of the filter cannot be expressed there, the SQL selects a superset and
	// Match decides for each candidate — never a silent empty list.
	Match func(tx *Tx, r *Resource) (bool, error)
	// SortBy is the attribute to sort by ("" keeps insertion order);
	// SortKey extracts it from a resource when it is not an indexed column.
	SortBy     string
	Descending bool
	SortKey    func(r *Resource) string
	// StartIndex is 1-based (RFC 7644 §3.4.2.4); Count < 0 means no limit,
	// Count == 0 asks for the total only.
	StartIndex int
	Count      int
	// Lazy leaves the returned documents undecoded (Resource.Raw only), for
	// callers that copy the stored JSON straight into a response. Match and
	// SortKey then receive resources whose Doc may be nil (see Resource.Decode).
	Lazy bool
	// WithGroups fills Resource.Groups (users only) in the same statement:
	// a second query per page would cost as much as the lookup itself.
	WithGroups bool
}

// groupsColumn selects a user's groups as a JSON array of [id, displayName].
// They are sorted in Go (an ORDER BY in the aggregate costs a temporary
// b-tree per user).
const groupsColumn = `(SELECT json_group_array(json_array(g.id, g.doc ->> '$.displayName'))
	FROM members m JOIN resources g ON g.seq = m.group_seq WHERE m.tenant_id = r.tenant_id AND m.member_id = r.id)`

// queryCols are the columns of a query's rows (see Query.scan): a query
// names its tenant and kind, so they are not read back per row.
const queryCols = `r.seq, r.id, r.created, r.modified, r.version, r.doc, r.managed`

const queryColsWithGroups = queryCols + ", " + groupsColumn

// selectCols is the column list of a query: the resource, plus its groups when asked.
func (q Query) selectCols() string {
	if q.WithGroups && q.Kind == KindUser {
		return queryColsWithGroups
	}
	return queryCols
}

// Page is a query result.
type Page struct {
	Total     int
	Resources []*Resource
}

// column describes how a filter attribute maps onto the resources table.
type column struct {
	expr string
	kind colKind
}

type colKind int

const (
	colExact     colKind = iota // string compared case-exactly
	colFolded                   // string stored lower-cased; compared case-insensitively
	colBool                     // 0/1, NULL when absent
	colTime                     // unix nanoseconds
	colMembers                  // membership rows
	colWorkEmail                // lower-cased work email, or multiWorkEmail
)

const coreUserURN = scim.SchemaUser
const coreGroupURN = scim.SchemaGroup

// resolveColumn is the allow-list: only these attributes ever reach SQL, and
// only as fixed column expressions; values always travel as placeholders.
func resolveColumn(kind Kind, p filter.Path) (column, bool) {
	core := coreUserURN
	if kind == KindGroup {
		core = coreGroupURN
	}
	if p.URN != "" && !strings.EqualFold(p.URN, core) {
		return column{}, false
	}
	attr, sub := strings.ToLower(p.Attr), strings.ToLower(p.Sub)
	if p.Filter != nil {
		// emails[type eq "work"].value — Entra's optional matching attribute.
		if kind == KindUser && attr == "emails" && sub == "value" && isTypeWork(p.Filter) {
			return column{"r.work_email_lc", colWorkEmail}, true
		}
		return column{}, false
	}
	switch {
	case attr == "id" && sub == "":
		return column{"r.id", colExact}, true
	case attr == "externalid" && sub == "":
		return column{"r.external_id", colExact}, true
	case attr == "meta" && sub == "created":
		return column{"r.created", colTime}, true
	case attr == "meta" && sub == "lastmodified":
		return column{"r.modified", colTime}, true
	case kind == KindUser && attr == "username" && sub == "":
		return column{"r.name_lc", colFolded}, true
	case kind == KindUser && attr == "displayname" && sub == "":
		return column{"r.display_name_lc", colFolded}, true
	case kind == KindUser && attr == "active" && sub == "":
		return column{"r.active", colBool}, true
	case kind == KindGroup && attr == "displayname" && sub == "":
		return column{"r.name_lc", colFolded}, true
	case kind == KindGroup && attr == "members" && (sub == "" || sub == "value"):
		return column{"", colMembers}, true
	}
	return column{}, false
}

func isTypeWork(e filter.Expr) bool {
	c, ok := e.(*filter.Compare)
	return ok && c.Op == filter.Eq && c.Path.URN == "" && strings.EqualFold(c.Path.Attr, "type") && c.Path.Sub == "" && c.Path.Filter == nil &&
		c.Value.Kind == filter.String && strings.EqualFold(c.Value.Str, "work")
}

// compiled is a SQL condition that selects a superset of the matching rows;
// exact says it selects exactly them, and unique that at most one row of a
// tenant and kind can match (an equality on a column with a unique index:
// resources_id, resources_name).
type compiled struct {
	sql    string
	args   []any
	exact  bool
	unique bool
}

var everything = compiled{sql: "TRUE", exact: false}

func compile(d *dialect, kind Kind, e filter.Expr) compiled {
	switch x := e.(type) {
	case *filter.Logical:
		l, r := compile(d, kind, x.Left), compile(d, kind, x.Right)
		op := " AND "
		if strings.EqualFold(x.Op, "or") {
			op = " OR "
		}
		c := compiled{sql: "(" + l.sql + op + r.sql + ")", args: append(l.args, r.args...), exact: l.exact && r.exact}
		// A conjunction with a unique equality matches at most one row too.
		c.unique = c.exact && op == " AND " && (l.unique || r.unique)
		return c
	case *filter.Not:
		in := compile(d, kind, x.X)
		if !in.exact {
			return everything // NOT of a superset is not a superset
		}
		return compiled{sql: "(NOT COALESCE(" + in.sql + ", FALSE))", args: in.args, exact: true}
	case *filter.Has:
		if kind == KindGroup && strings.EqualFold(x.Path.Attr, "members") && (x.Path.URN == "" || strings.EqualFold(x.Path.URN, coreGroupURN)) {
			if c, ok := x.Path.Filter.(*filter.Compare); ok && c.Op == filter.Eq && c.Path.URN == "" && strings.EqualFold(c.Path.Attr, "value") &&
				c.Path.Sub == "" && c.Path.Filter == nil && c.Value.Kind == filter.String {
				return compiled{sql: "EXISTS (SELECT 1 FROM members m WHERE m.group_seq = r.seq AND m.member_id = ?)", args: []any{c.Value.Str}, exact: true}
			}
		}
		return everything
	case *filter.Compare:
		return compileCompare(d, kind, x)
	}
	return everything
}

func compileCompare(d *dialect, kind Kind, c *filter.Compare) compiled {
	col, ok := resolveColumn(kind, c.Path)
	if !ok {
		return everything
	}
	v := c.Value
	if c.Op == filter.Pr {
		switch col.kind {
		case colMembers:
			return compiled{sql: "EXISTS (SELECT 1 FROM members m WHERE m.group_seq = r.seq)", exact: true}
		case colWorkEmail:
			return compiled{sql: col.expr + " IS NOT NULL", exact: true}
		}
		return compiled{sql: "(" + col.expr + " IS NOT NULL)", exact: true}
	}
	if v.Kind == filter.Null {
		if col.kind == colMembers || col.kind == colWorkEmail {
			return everything
		}
		switch c.Op {
		case filter.Eq:
			return compiled{sql: "(" + col.expr + " IS NULL)", exact: true}
		case filter.Ne:
			return compiled{sql: "(" + col.expr + " IS NOT NULL)", exact: true}
		}
		return everything
	}
	switch col.kind {
	case colMembers:
		if v.Kind != filter.String {
			return everything
		}
		exists := "EXISTS (SELECT 1 FROM members m WHERE m.group_seq = r.seq AND m.member_id = ?)"
		switch c.Op {
		case filter.Eq:
			return compiled{sql: exists, args: []any{v.Str}, exact: true}
		case filter.Ne:
			return compiled{sql: "(NOT " + exists + ")", args: []any{v.Str}, exact: true}
		}
		return everything
	case colWorkEmail:
		if v.Kind != filter.String || c.Op != filter.Eq {
			return everything
		}
		// A superset: rows with several work emails are checked against the document.
		return compiled{sql: "(" + col.expr + " IN (?, ?))", args: []any{filter.Fold(v.Str), multiWorkEmail}, exact: false}
	case colBool:
		if v.Kind != filter.Bool {
			return everything
		}
		switch c.Op {
		case filter.Eq:
			return compiled{sql: "(" + col.expr + " IS NOT DISTINCT FROM ?)", args: []any{boolInt(v.Bool)}, exact: true}
		case filter.Ne:
			return compiled{sql: "(" + col.expr + " IS DISTINCT FROM ?)", args: []any{boolInt(v.Bool)}, exact: true}
		}
		return everything
	case colTime:
		if v.Kind != filter.String {
			return everything
		}
		ts, err := time.Parse(time.RFC3339Nano, v.Str)
		// Columns hold Unix nanoseconds, which cover 1678–2262; other dates
		// are compared by Match.
		if err != nil || ts.Year() < 1678 || ts.Year() > 2261 {
			return everything
		}
		n := nanos(ts)
		ops := map[filter.Operator]string{filter.Eq: "=", filter.Ne: "<>", filter.Gt: ">", filter.Ge: ">=", filter.Lt: "<", filter.Le: "<="}
		if op, ok := ops[c.Op]; ok {
			return compiled{sql: "(" + col.expr + " " + op + " ?)", args: []any{n}, exact: true}
		}
		return everything
	case colExact, colFolded:
		if v.Kind != filter.String {
			return everything
		}
		s := v.Str
		if col.kind == colFolded {
			s = filter.Fold(s)
		}
		switch c.Op {
		case filter.Eq:
			unique := col.expr == "r.id" || col.expr == "r.name_lc" // UNIQUE (tenant_id, kind, …)
			return compiled{sql: "(" + col.expr + " = ?)", args: []any{s}, exact: true, unique: unique}
		case filter.Ne:
			return compiled{sql: "(" + col.expr + " IS DISTINCT FROM ?)", args: []any{s}, exact: true}
		case filter.Sw:
			if s == "" {
				return compiled{sql: "(" + col.expr + " IS NOT NULL)", exact: true}
			}
			return d.like(col.expr, s, true)
		case filter.Co:
			return compiled{sql: "(instr(" + col.expr + ", ?) > 0)", args: []any{s}, exact: true}
		case filter.Ew:
			if s == "" {
				return compiled{sql: "(" + col.expr + " IS NOT NULL)", exact: true}
			}
			return d.like(col.expr, s, false)
		}
	}
	return everything
}

// globEscape quotes GLOB metacharacters so the value matches literally.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[':
			b.WriteByte('[')
			b.WriteRune(r)
			b.WriteByte(']')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// sortColumn is the allow-list of sortable columns (RFC 7644 §3.4.2.3).
func sortColumn(kind Kind, by string) (string, bool) {
	p, err := filter.ParsePath(by)
	if err != nil || p.Filter != nil {
		return "", false
	}
	col, ok := resolveColumn(kind, p)
	if !ok {
		return "", false
	}
	switch col.kind {
	case colExact, colFolded, colTime, colBool:
		return col.expr, true
	}
	return "", false
}

// Query runs q and returns one page plus the total number of matches.
func (t *Tx) Query(q Query) (*Page, error) {
	cond := compiled{sql: "TRUE", exact: true}
	if q.Filter != nil {
		cond = compile(t.c.d, q.Kind, q.Filter)
	}
	if !cond.exact && q.Match == nil {
		return nil, fmt.Errorf("query: filter needs in-memory evaluation but no Match was given")
	}
	start := q.StartIndex
	if start < 1 {
		start = 1
	}
	order := "r.seq"
	sortInMemory := false
	if q.SortBy != "" {
		if col, ok := sortColumn(q.Kind, q.SortBy); ok {
			dir := " ASC"
			if q.Descending {
				dir = " DESC"
			}
			// NULLs sort last in ascending order (RFC 7644 §3.4.2.3).
			order = "(" + col + " IS NULL)" + dir + ", " + col + dir + ", r.seq"
			if q.Descending {
				order = "(" + col + " IS NULL) ASC, " + col + dir + ", r.seq"
			}
		} else {
			sortInMemory = true
		}
	}
	where := "r.tenant_id = ? AND r.kind = ? AND " + cond.sql
	// Room for queryExact's LIMIT and OFFSET: it appends them without a copy.
	args := make([]any, 0, 2+len(cond.args)+2)
	args = append(append(args, q.TenantID, string(q.Kind)), cond.args...)

	if cond.exact && !sortInMemory {
		return t.queryExact(q, where, args, order, start, cond.unique)
	}
	// Candidates from SQL, decided one by one, then sorted and paged here.
	rows, err := t.queryDynamic(`SELECT `+q.selectCols()+` FROM resources r WHERE `+where+` ORDER BY `+order, args...)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	var candidates []*Resource
	for rows.Next() {
		r, err := q.scan(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		candidates = append(candidates, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	matched := candidates[:0]
	for _, r := range candidates {
		ok := true
		if !cond.exact {
			if ok, err = q.Match(t, r); err != nil {
				return nil, err
			}
		}
		if ok {
			matched = append(matched, r)
		}
	}
	if sortInMemory && q.SortKey != nil {
		keys := make(map[*Resource]string, len(matched))
		for _, r := range matched {
			keys[r] = q.SortKey(r)
		}
		sort.SliceStable(matched, func(i, j int) bool {
			a, b := keys[matched[i]], keys[matched[j]]
			if (a == "") != (b == "") {
				return b == "" // absent values last
			}
			if q.Descending {
				return a > b
			}
			return a < b
		})
	}
	page := &Page{Total: len(matched)}
	if q.Count == 0 || start > len(matched) {
		return page, nil
	}
	end := len(matched)
	if q.Count > 0 && q.Count < end-(start-1) { // no overflow for huge counts
		end = start - 1 + q.Count
	}
	page.Resources = matched[start-1 : end]
	return page, nil
}

func (t *Tx) queryExact(q Query, where string, args []any, order string, start int, unique bool) (*Page, error) {
	page := &Page{}
	count := q.Count
	if unique && start == 1 && count != 0 {
		return page, t.queryOne(q, where, args, page)
	}
	if count != 0 {
		limit := count
		if limit < 0 {
			limit = math.MaxInt64 // no limit (PostgreSQL refuses LIMIT -1)
		}
		rows, err := t.queryDynamic(`SELECT `+q.selectCols()+` FROM resources r WHERE `+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
			append(args, limit, start-1)...) // args itself stays as it is for the count
		if err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		for rows.Next() {
			r, err := q.scan(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			page.Resources = append(page.Resources, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		// A first page shorter than asked for is the whole result: skip the count.
		if start == 1 && (count < 0 || len(page.Resources) < count) {
			page.Total = len(page.Resources)
			return page, nil
		}
	}
	if err := t.queryRowDynamic(`SELECT count(*) FROM resources r WHERE `+where, args...).Scan(&page.Total); err != nil {
		return nil, fmt.Errorf("count: %w", err)
	}
	return page, nil
}

// queryOne fills page with the one row, if any, that a filter on a unique
// key matches: Entra's lookup before each create (userName eq "…"). The
// statement needs no ORDER BY, OFFSET or count, and no step past the row to
// find that there is no other. On SQLite it reads one index entry in
// process, so it is not worth cancelling: it runs without the request's
// cancellation, which costs a goroutine in database/sql and one in the
// driver per statement (database/sql's Rows.awaitDone, modernc.org/sqlite's
// interruptOnDone). On PostgreSQL the cancellation stays: it also ends a
// wait on the network.
func (t *Tx) queryOne(q Query, where string, args []any, page *Page) error {
	run := t
	if !t.c.d.postgres {
		nc := *t
		nc.ctx = context.WithoutCancel(t.ctx)
		run = &nc
	}
	rows, err := run.queryDynamic(`SELECT `+q.selectCols()+` FROM resources r WHERE `+where+` LIMIT 1`, args...)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		r, err := q.scan(rows)
		if err != nil {
			return err
		}
		page.Resources = []*Resource{r}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	page.Total = len(page.Resources)
	return nil
}

// scan reads one row of a query built with selectCols, whose statement
// selects q's tenant and kind only.
func (q Query) scan(rows *sql.Rows) (*Resource, error) {
	r := &Resource{TenantID: q.TenantID, Kind: q.Kind}
	var t rowTail
	var groups []byte
	dest := []any{&r.Seq, &r.ID, &t.created, &t.modified, &r.Version, &r.Raw, &t.managed, &groups}
	withGroups := q.WithGroups && q.Kind == KindUser
	if !withGroups {
		dest = dest[:len(dest)-1]
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, err
	}
	if err := t.fill(r, q.Lazy); err != nil {
		return nil, err
	}
	if !withGroups {
		return r, nil
	}
	var err error
	if r.Groups, err = decodeGroupPairs(groups); err != nil {
		return nil, fmt.Errorf("groups of %s: %w", r.ID, err)
	}
	sortGroups(r.Groups)
	return r, nil
}
