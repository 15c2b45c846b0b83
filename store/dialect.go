package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// A dialect is what differs between the store's two databases. The store's
// statements are written once, in SQLite's syntax restricted to what
// PostgreSQL also accepts (RETURNING, ON CONFLICT … DO, IS [NOT] DISTINCT
// FROM, TRUE/FALSE); the PostgreSQL dialect rewrites the few remaining
// differences — placeholders, json1 functions, instr, the BEGIN of a write —
// once per prepared statement (the rewritten text is what the statement
// cache holds, so the cost is paid once per connection and statement).
// What behaves differently on PostgreSQL, and how to add a migration to
// both: docs/postgresql.md.
type dialect struct {
	name     string // "sqlite" or "postgres"
	postgres bool
	// migrations is the directory of the embedded migration files.
	migrations string
}

var (
	sqliteDialect   = &dialect{name: "sqlite", migrations: "migrations"}
	postgresDialect = &dialect{name: "postgres", postgres: true, migrations: "migrations/postgres"}
)

// IsPostgresURL reports whether Open's argument names a PostgreSQL database
// rather than a SQLite file.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// redactURL returns a postgres:// URL without its password, for Path and errors.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "postgres://…"
	}
	return u.Redacted()
}

// wholeStatements are statements the PostgreSQL dialect replaces whole.
// Writes run REPEATABLE READ: a write that read a row another agent changed
// since fails with a serialization error and is run again (see runBatch),
// so that no read-modify-write (a version bump, a member list) loses
// another agent's write. Reads see one snapshot, as on SQLite.
var wholeStatements = map[string]string{
	"BEGIN IMMEDIATE": "BEGIN ISOLATION LEVEL REPEATABLE READ",
	"BEGIN":           "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
}

var jsonPath = regexp.MustCompile(`([A-Za-z_][A-Za-z_0-9]*(?:\.[A-Za-z_][A-Za-z_0-9]*)?) ->> '\$\.([A-Za-z_][A-Za-z_0-9]*)'`)

// sql returns query in the dialect's syntax.
func (d *dialect) sql(query string) string {
	if !d.postgres {
		return query
	}
	if w, ok := wholeStatements[query]; ok {
		return w
	}
	// SQLite's json1 → PostgreSQL's JSON functions. doc is TEXT on both, so
	// that the stored JSON is returned byte for byte as written.
	query = jsonPath.ReplaceAllString(query, "$1::jsonb ->> '$2'")
	query = replaceCall(query, "json_group_array", func(arg string) string { return "COALESCE(json_agg(" + arg + "), '[]')" })
	query = replaceCall(query, "json_array", func(arg string) string { return "json_build_array(" + arg + ")" })
	query = replaceCall(query, "instr", func(arg string) string { return "strpos(" + arg + ")" })
	return placeholders(query)
}

// args converts arguments for the dialect: PostgreSQL's text cannot hold a
// NUL byte, so the multiWorkEmail marker is stored as pgMultiWorkEmail, any
// other NUL is passed as U+0001 (pgNUL), and flags, INTEGER 0/1 on both
// databases, are passed as numbers.
func (d *dialect) args(args []any) []any {
	if !d.postgres {
		return args
	}
	for i, a := range args {
		switch v := a.(type) {
		case bool:
			args[i] = boolInt(v)
		case string:
			args[i] = pgText(v)
		case sql.NullString:
			if v.Valid {
				v.String = pgText(v.String)
				args[i] = v
			}
		}
	}
	return args
}

// pgNUL replaces NUL in text passed to PostgreSQL, which refuses it
// ("invalid byte sequence"): a SCIM id or member value from a request
// (/Users/a%00b) is looked up as it would be on SQLite, finding nothing,
// instead of failing. No stored SCIM value holds U+0001 either: the edge
// refuses control characters (docs/scim-limits.md), so such a lookup still
// matches nothing.
const pgNUL = "\x01"

// pgText is s as PostgreSQL text: pgMultiWorkEmail for the multiWorkEmail
// marker, NUL replaced by pgNUL.
func pgText(s string) string {
	if s == multiWorkEmail {
		return pgMultiWorkEmail
	}
	if strings.IndexByte(s, 0) >= 0 {
		return strings.ReplaceAll(s, "\x00", pgNUL)
	}
	return s
}

// pgMultiWorkEmail is multiWorkEmail on PostgreSQL. Like it, it only makes a
// row a candidate that Query.Match decides, so an address equal to it is
// never a wrong answer.
const pgMultiWorkEmail = "\x01multi"

// like returns the condition "expr starts with (or ends with) s", matched
// case-exactly: GLOB on SQLite (whose LIKE ignores ASCII case), LIKE on
// PostgreSQL, over columns with the "C" collation (bytewise, as SQLite's).
func (d *dialect) like(expr, s string, prefix bool) compiled {
	if !d.postgres {
		p := "*" + globEscape(s)
		if prefix {
			p = globEscape(s) + "*"
		}
		return compiled{sql: "(" + expr + " GLOB ?)", args: []any{p}, exact: true}
	}
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
	p := "%" + esc
	if prefix {
		p = esc + "%"
	}
	return compiled{sql: "(" + expr + ` LIKE ? ESCAPE '\')`, args: []any{p}, exact: true}
}

// replaceCall replaces each call name(args) outside string literals with
// with(args); args may hold nested parentheses.
func replaceCall(q, name string, with func(args string) string) string {
	var b strings.Builder
	for i := 0; i < len(q); {
		j := indexCall(q[i:], name)
		if j < 0 {
			b.WriteString(q[i:])
			break
		}
		start := i + j
		open := start + len(name)
		depth, end := 0, -1
		for k := open; k < len(q) && end < 0; k++ {
			switch q[k] {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					end = k
				}
			case '\'':
				for k++; k < len(q) && q[k] != '\''; k++ {
				}
			}
		}
		if end < 0 {
			b.WriteString(q[i:])
			break
		}
		b.WriteString(q[i:start])
		b.WriteString(with(replaceCall(q[open+1:end], name, with)))
		i = end + 1
	}
	return b.String()
}

// indexCall finds "name(" as a whole word outside string literals.
func indexCall(q, name string) int {
	inStr := false
	for i := 0; i < len(q); i++ {
		if q[i] == '\'' {
			inStr = !inStr
			continue
		}
		if inStr || !strings.HasPrefix(q[i:], name+"(") {
			continue
		}
		if i > 0 && (isIdent(q[i-1]) || q[i-1] == '.') {
			continue
		}
		return i
	}
	return -1
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// placeholders rewrites SQLite's parameters, ? and ?N, to PostgreSQL's $N.
// Like SQLite, a bare ? takes the number after the largest one used so far.
func placeholders(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 8)
	highest := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch c {
		case '\'', '"':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+2])
			i += j + 1
			continue
		case '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			n := highest + 1
			if j > i+1 {
				n, _ = strconv.Atoi(q[i+1 : j])
			}
			highest = max(highest, n)
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i = j - 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// PostgreSQL error codes (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const (
	pgUniqueViolation      = "23505"
	pgDiskFull             = "53100"
	pgReadOnlyTransaction  = "25006"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgInFailedTransaction  = "25P02"
)

// mapPostgresErr translates a PostgreSQL error into the store's sentinels;
// nil when err is not one it knows.
func mapPostgresErr(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return nil
	}
	switch pe.Code {
	case pgUniqueViolation:
		return fmt.Errorf("%w: %v", ErrConflict, err)
	case pgDiskFull:
		return fmt.Errorf("%w (%v)", ErrFull, err)
	case pgReadOnlyTransaction:
		return fmt.Errorf("%w (%v)", ErrReadOnly, err)
	}
	return nil
}

// retryable reports whether a write failed only because it ran concurrently
// with another agent's (a serialization failure or a deadlock, or a
// statement after one in the same transaction): run again, it succeeds.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case pgSerializationFailure, pgDeadlockDetected, pgInFailedTransaction:
		return true
	}
	return false
}

// errBackupPostgres is Backup's answer on PostgreSQL: the server has its
// own consistent copies, which need no file of the agent's.
var errBackupPostgres = errors.New("backup: the store is a PostgreSQL database; back it up with pg_dump (https://www.postgresql.org/docs/current/app-pgdump.html) or the server's own backups")

// openPostgres connects the pool of a store on PostgreSQL. Options that
// concern a SQLite file (Synchronous, MmapSize, Exclusive) do not apply:
// several agents may share one database, and PostgreSQL's own settings
// decide durability (synchronous_commit).
func openPostgres(dsn string, opt Options) (*sql.DB, error) {
	if opt.MaxSize > 0 {
		return nil, errors.New("a maximum database size applies to SQLite only; on PostgreSQL, bound the database's size with the server's own means")
	}
	return sql.Open("pgx", dsn)
}

// writeGate returns the statement that opens a write transaction on
// PostgreSQL ("" on SQLite, whose writers take the file's lock in turn).
//
// Writes run REPEATABLE READ, so a write that meets a row another agent
// changed since its snapshot fails and runs again. Run again blindly, it
// could lose every time: the other agent's next transaction may take the
// row first again. So every write transaction first takes the write_gate
// table's lock — shared (ROW SHARE) normally, EXCLUSIVE when it runs writes
// again. LOCK TABLE takes no snapshot, and the exclusive lock waits until
// every other agent's write has ended and holds off new ones: the writes
// run again with a snapshot no concurrent write can invalidate, so they
// do not fail that way twice.
func (d *dialect) writeGate(alone bool) string {
	switch {
	case !d.postgres:
		return ""
	case alone:
		return "LOCK TABLE write_gate IN EXCLUSIVE MODE"
	}
	return "LOCK TABLE write_gate IN ROW SHARE MODE"
}

// prepareConn sets up one of a store's connections: readers are read-only.
func (d *dialect) prepareConn(ctx context.Context, c *sql.Conn, reader bool) error {
	if !reader {
		return nil
	}
	q := "PRAGMA query_only = 1"
	if d.postgres {
		q = "SET default_transaction_read_only = on"
	}
	_, err := c.ExecContext(ctx, q)
	return err
}
