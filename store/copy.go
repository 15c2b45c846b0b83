package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math"
	"strings"
)

// Copy moves a SQLite store into PostgreSQL and VerifyCopy checks it (roster migrate --to;
// docs/postgresql.md "Moving a SQLite install"). Both stores are open, so
// both are at the same migration version; the rows are read in one snapshot
// of the source and written in batches, each batch one transaction of the
// destination, so memory stays bounded whatever a table's size.

// copyColumn is a column of a copied table; key marks the primary key's
// columns (in key order), text whether it holds text (sorted bytewise on
// both databases: SQLite's BINARY collation, PostgreSQL's "C").
type copyColumn struct {
	name            string
	key, text, blob bool
}

// copyTable is a table Copy copies. identity names its rowid column, an
// identity column on PostgreSQL whose sequence must go on after the copied
// rows.
type copyTable struct {
	name     string
	cols     []copyColumn
	identity string
}

// Column constructors for copyTables; *Key columns form the primary key.
// blobCol is a BLOB (BYTEA) NOT NULL column: an empty BLOB is read from
// SQLite as a nil slice, which would be written as NULL, so it is read as
// empty bytes instead.
func blobCol(n string) copyColumn { return copyColumn{name: n, blob: true} }
func intCol(n string) copyColumn  { return copyColumn{name: n} }
func textCol(n string) copyColumn { return copyColumn{name: n, text: true} }
func intKey(n string) copyColumn  { return copyColumn{name: n, key: true} }
func textKey(n string) copyColumn { return copyColumn{name: n, key: true, text: true} }

// copyTables are the tables Copy copies, parents before children (foreign
// keys hold after every batch). Not copied: schema_migrations (each store
// has its own, at the same version), locks (leases held only while an
// agent runs), and PostgreSQL's change_heads (derived
// from the copied log afterwards) and write_gate (never holds rows).
// TestCopyTablesCoverSchema fails when a migration adds a table or column
// that is missing here.
var copyTables = []copyTable{
	{name: "settings", cols: []copyColumn{textKey("key"), textCol("value")}},
	{name: "tenants", cols: []copyColumn{textKey("id"), textCol("name"), intCol("created"), textCol("settings")}},
	{name: "oauth_clients", cols: []copyColumn{textKey("id"), textCol("tenant_id"), textCol("name"), textCol("kind"), intCol("read_only"), intCol("created"),
		intCol("revoked"), textCol("issuer"), textCol("subject"), textCol("audience"), textCol("jwks_url")}},
	{name: "oauth_client_secrets", cols: []copyColumn{textKey("id"), textCol("client_id"), blobCol("hash"), intCol("created"), intCol("expires"), intCol("revoked")}},
	{name: "tokens", cols: []copyColumn{textKey("id"), textCol("tenant_id"), textCol("name"), blobCol("hash"), intCol("read_only"), intCol("created"),
		intCol("expires"), intCol("revoked"), intCol("last_used"), intCol("app"), textCol("client_id")}},
	{name: "resources", identity: "seq", cols: []copyColumn{intKey("seq"), textCol("tenant_id"), textCol("kind"), textCol("id"), textCol("name_lc"),
		textCol("external_id"), textCol("work_email_lc"), textCol("display_name_lc"), intCol("active"), intCol("created"), intCol("modified"), intCol("version"),
		textCol("doc"), intCol("inactive_since"), textCol("managed")}},
	{name: "members", cols: []copyColumn{intKey("group_seq"), textKey("member_id"), textCol("tenant_id"), textCol("member_type")}},
	{name: "domains", cols: []copyColumn{textKey("tenant_id"), textKey("domain"), textCol("record_name"), textCol("value"), textCol("status"), intCol("created"),
		intCol("window_start"), intCol("last_check"), intCol("next_check"), intCol("verified_at"), intCol("missing_since"), textCol("detail")}},
	{name: "events", identity: "seq", cols: []copyColumn{intKey("seq"), intCol("at"), textCol("tenant_id"), textCol("token_name"), textCol("method"), textCol("path"),
		textCol("resource_type"), textCol("resource_id"), textCol("name"), intCol("status"), textCol("scim_type"), textCol("detail"), intCol("duration_us"),
		textCol("name_folded"), textCol("outcome"), intCol("count"), textCol("agg_key")}},
	{name: "webhooks", cols: []copyColumn{textKey("id"), textCol("tenant_id"), textCol("url"), textCol("types"), textCol("format"), textCol("secret"), intCol("created"),
		textCol("state"), intCol("cursor"), intCol("revision"), intCol("failing_since"), textCol("detail")}},
	{name: "webhook_deliveries", identity: "id", cols: []copyColumn{intKey("id"), textCol("webhook_id"), intCol("seq"), textCol("change_id"), intCol("attempt"),
		intCol("time"), intCol("status"), textCol("error"), intCol("duration")}},
	{name: "changes", cols: []copyColumn{textKey("tenant_id"), intKey("seq"), textCol("id"), intCol("at"), textCol("type"), textCol("record")}},
	{name: "change_cuts", cols: []copyColumn{textKey("tenant_id"), intCol("pruned_through")}},
	{name: "certmagic_data", cols: []copyColumn{textKey("key"), blobCol("value"), intCol("modified")}},
}

// columnList is the table's columns, quoted ("time", "key" and "count"
// are keywords of one database or the other).
func (ct copyTable) columnList() string {
	names := make([]string, len(ct.cols))
	for i, c := range ct.cols {
		names[i] = `"` + c.name + `"`
	}
	return strings.Join(names, ", ")
}

// selectSQL reads the whole table in primary-key order, text compared
// bytewise on both databases.
func (ct copyTable) selectSQL(d *dialect) string {
	var order []string
	for _, c := range ct.cols {
		if !c.key {
			continue
		}
		o := `"` + c.name + `"`
		if c.text && d.postgres {
			o += ` COLLATE "C"`
		}
		order = append(order, o)
	}
	return "SELECT " + ct.columnList() + " FROM " + ct.name + " ORDER BY " + strings.Join(order, ", ")
}

// emptyBlobs turns the nil of a blobCol into empty bytes (see blobCol).
func (ct copyTable) emptyBlobs(vals []any) {
	for i, c := range ct.cols {
		if b, ok := vals[i].([]byte); c.blob && (vals[i] == nil || ok && b == nil) {
			vals[i] = []byte{}
		}
	}
}

// insertSQL inserts n rows in one statement.
func (ct copyTable) insertSQL(n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(ct.cols)), ", ") + ")"
	rows := strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
	return "INSERT INTO " + ct.name + "(" + ct.columnList() + ") VALUES " + rows
}

// TableReport is what Copy and VerifyCopy found for one table: its rows and
// the SHA-256 checksum of its rows (see VerifyCopy) on each side.
type TableReport struct {
	Table string
	// Copied is how many rows Copy wrote (0 from VerifyCopy alone).
	Copied                       int64
	SourceRows, DestRows         int64
	SourceChecksum, DestChecksum string // hex SHA-256
}

// Match reports whether both sides hold the same rows.
func (r TableReport) Match() bool {
	return r.SourceRows == r.DestRows && r.SourceChecksum == r.DestChecksum
}

// CopyReport is the outcome of Copy or VerifyCopy, one TableReport per copied
// table in copy order.
type CopyReport struct {
	Tables []TableReport
}

// Mismatches returns the tables whose counts or checksums differ.
func (r *CopyReport) Mismatches() []TableReport {
	var out []TableReport
	for _, t := range r.Tables {
		if !t.Match() {
			out = append(out, t)
		}
	}
	return out
}

// ErrMismatch is returned (wrapped, with the tables) by Copy and VerifyCopy
// when the destination does not hold the same rows as the source.
var ErrMismatch = errors.New("the destination does not hold the same rows as the source")

// ErrNotEmpty is returned (wrapped, with the tables) by Copy when the
// destination already holds data and CopyOptions.Replace is not set.
var ErrNotEmpty = errors.New("the destination already holds data")

// CopyOptions tunes Copy.
type CopyOptions struct {
	// Replace deletes every row the destination holds in the copied tables
	// (and its change heads) before copying. Without it, a destination
	// holding any row is refused with ErrNotEmpty.
	Replace bool
	// Progress, if set, is called after each batch with the table and the
	// rows of it copied so far.
	Progress func(table string, rows int64)
	// BatchRows is how many rows one destination transaction writes; 0
	// means 2,000.
	BatchRows int
}

// rowsPerStatement bounds the rows of one multi-row INSERT: 100 rows of
// the widest table (17 columns) stay far below both databases' limits on
// parameters (SQLite 32,766; PostgreSQL 65,535).
const rowsPerStatement = 100

// Copy copies every table of the SQLite store from into the store to
// (PostgreSQL; another SQLite store works too), then checks the copy with
// VerifyCopy. It refuses a destination that holds data unless opt.Replace. On
// PostgreSQL it then moves the identity sequences past the copied rows and
// sets each tenant's change head from the copied log and its cut, so that
// the next change's seq follows the copied ones (changes_postgres.go).
// The returned report is set whenever the copy ran, also with ErrMismatch.
func Copy(ctx context.Context, from, to *DB, opt CopyOptions) (*CopyReport, error) {
	if from.d.postgres {
		return nil, errors.New("copy: the source must be a SQLite store; copy a PostgreSQL database with pg_dump")
	}
	if opt.BatchRows <= 0 {
		opt.BatchRows = 2000
	}
	fv, err := from.SchemaVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy: source schema version: %w", err)
	}
	tv, err := to.SchemaVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy: destination schema version: %w", err)
	}
	if fv != tv {
		return nil, fmt.Errorf("copy: the source is at schema version %d and the destination at %d; open both with the same roster", fv, tv)
	}
	if opt.Replace {
		if err := to.Write(ctx, clearCopyTables); err != nil {
			return nil, fmt.Errorf("copy: empty the destination: %w", err)
		}
	} else if err := checkEmpty(ctx, to); err != nil {
		return nil, err
	}
	copied := make([]int64, len(copyTables))
	err = from.Read(ctx, func(src *Tx) error {
		for i, ct := range copyTables {
			n, err := copyRows(ctx, src, to, ct, opt)
			if err != nil {
				return fmt.Errorf("copy %s: %w", ct.name, err)
			}
			copied[i] = n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	if to.d.postgres {
		if err := to.Write(ctx, continueSequences); err != nil {
			return nil, fmt.Errorf("copy: %w", err)
		}
		// The copied tables have no planner statistics yet (pgstats.go);
		// the verification below reads them by key.
		if err := to.analyze(ctx); err != nil {
			return nil, fmt.Errorf("copy: %w", err)
		}
	}
	rep, err := VerifyCopy(ctx, from, to)
	if rep != nil {
		for i := range rep.Tables {
			rep.Tables[i].Copied = copied[i]
		}
	}
	return rep, err
}

// checkEmpty returns ErrNotEmpty, naming the tables with rows, when db
// holds any row of a copied table.
func checkEmpty(ctx context.Context, db *DB) error {
	var full []string
	err := db.Read(ctx, func(tx *Tx) error {
		for _, ct := range copyTables {
			var some int
			err := tx.queryRow(`SELECT count(*) FROM (SELECT 1 FROM ` + ct.name + ` LIMIT 1) AS t`).Scan(&some)
			if err != nil {
				return fmt.Errorf("%s: %w", ct.name, err)
			}
			if some > 0 {
				full = append(full, ct.name)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("copy: look at the destination: %w", err)
	}
	if len(full) > 0 {
		return fmt.Errorf("%w (rows in %s)", ErrNotEmpty, strings.Join(full, ", "))
	}
	return nil
}

// clearCopyTables deletes the rows of every copied table, children first,
// and PostgreSQL's change heads.
func clearCopyTables(tx *Tx) error {
	if tx.c.d.postgres {
		if _, err := tx.exec(`DELETE FROM change_heads`); err != nil {
			return err
		}
	}
	for i := len(copyTables) - 1; i >= 0; i-- {
		if _, err := tx.exec(`DELETE FROM ` + copyTables[i].name); err != nil {
			return fmt.Errorf("%s: %w", copyTables[i].name, err)
		}
	}
	if !tx.c.d.postgres {
		// The writer's cached change heads described the deleted log.
		tx.db.heads.forgetAll()
	}
	return nil
}

// copyRows streams one table from src, in batches of opt.BatchRows rows
// each written to to in one transaction, and returns the rows copied.
func copyRows(ctx context.Context, src *Tx, to *DB, ct copyTable, opt CopyOptions) (int64, error) {
	rows, err := src.query(ct.selectSQL(src.c.d))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var total int64
	batch := make([][]any, 0, opt.BatchRows)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := to.Write(ctx, func(tx *Tx) error { return insertRows(tx, ct, batch) }); err != nil {
			return err
		}
		total += int64(len(batch))
		batch = batch[:0]
		if opt.Progress != nil {
			opt.Progress(ct.name, total)
		}
		return nil
	}
	for rows.Next() {
		vals := make([]any, len(ct.cols))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		// Scanning into *any copies []byte values: they outlive Next.
		if err := rows.Scan(ptrs...); err != nil {
			return total, err
		}
		ct.emptyBlobs(vals)
		batch = append(batch, vals)
		if len(batch) == opt.BatchRows {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return total, err
	}
	return total, flush()
}

// insertRows writes rows with multi-row INSERTs; the dialect's args turn
// SQLite's multi-email marker into PostgreSQL's (dialect.go).
func insertRows(tx *Tx, ct copyTable, rows [][]any) error {
	for len(rows) > 0 {
		n := min(len(rows), rowsPerStatement)
		args := make([]any, 0, n*len(ct.cols))
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		if _, err := tx.exec(ct.insertSQL(n), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// continueSequences, on PostgreSQL after a copy, moves each identity
// column's sequence past the copied rows (an insert with explicit values
// does not advance it) and sets every tenant's change head to the newest
// seq of its copied log, or its cut when pruning emptied it — the seq
// appendChangePostgres goes on from.
func continueSequences(tx *Tx) error {
	for _, ct := range copyTables {
		if ct.identity == "" {
			continue
		}
		q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%[1]s', '%[2]s'), COALESCE((SELECT max("%[2]s") FROM %[1]s), 0) + 1, false)`,
			ct.name, ct.identity)
		var v int64
		if err := tx.queryRow(q).Scan(&v); err != nil {
			return fmt.Errorf("continue the sequence of %s.%s: %w", ct.name, ct.identity, err)
		}
	}
	_, err := tx.exec(`INSERT INTO change_heads(tenant_id, seq)
		SELECT id, GREATEST(COALESCE((SELECT max(seq) FROM changes WHERE changes.tenant_id = tenants.id), 0),
			COALESCE((SELECT pruned_through FROM change_cuts WHERE change_cuts.tenant_id = tenants.id), 0)) FROM tenants
		ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq`)
	if err != nil {
		return fmt.Errorf("set the change heads: %w", err)
	}
	return nil
}

// VerifyCopy compares every copied table of the two stores: its row count and
// a SHA-256 checksum of its rows in primary-key order, each value
// serialised with its type (integer, text or bytes, or NULL), so that the
// same rows give the same checksum on SQLite and PostgreSQL (INTEGER and
// BIGINT are both 64-bit integers; BLOB and BYTEA both bytes; text keys
// sort bytewise on both). SQLite's multi-email marker is checksummed as
// PostgreSQL's (dialect.go). It returns the report, and ErrMismatch naming
// the tables that differ.
func VerifyCopy(ctx context.Context, from, to *DB) (*CopyReport, error) {
	src, err := checksums(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("verify the source: %w", err)
	}
	dst, err := checksums(ctx, to)
	if err != nil {
		return nil, fmt.Errorf("verify the destination: %w", err)
	}
	rep := &CopyReport{}
	var bad []string
	for i, ct := range copyTables {
		tr := TableReport{Table: ct.name, SourceRows: src[i].rows, DestRows: dst[i].rows,
			SourceChecksum: src[i].sum, DestChecksum: dst[i].sum}
		rep.Tables = append(rep.Tables, tr)
		switch {
		case tr.SourceRows != tr.DestRows:
			bad = append(bad, fmt.Sprintf("%s: %d rows in the source, %d in the destination", ct.name, tr.SourceRows, tr.DestRows))
		case !tr.Match():
			bad = append(bad, fmt.Sprintf("%s: the same number of rows (%d), different contents", ct.name, tr.SourceRows))
		}
	}
	if len(bad) > 0 {
		return rep, fmt.Errorf("%w: %s", ErrMismatch, strings.Join(bad, "; "))
	}
	return rep, nil
}

type tableSum struct {
	rows int64
	sum  string
}

// checksums reads every copied table of db in one snapshot.
func checksums(ctx context.Context, db *DB) ([]tableSum, error) {
	out := make([]tableSum, len(copyTables))
	err := db.Read(ctx, func(tx *Tx) error {
		for i, ct := range copyTables {
			rows, err := tx.query(ct.selectSQL(tx.c.d))
			if err != nil {
				return fmt.Errorf("%s: %w", ct.name, err)
			}
			h := sha256.New()
			vals := make([]any, len(ct.cols))
			ptrs := make([]any, len(vals))
			for j := range vals {
				ptrs[j] = &vals[j]
			}
			var n int64
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					rows.Close()
					return fmt.Errorf("%s: %w", ct.name, err)
				}
				ct.emptyBlobs(vals)
				for j, v := range vals {
					if err := hashValue(h, v); err != nil {
						rows.Close()
						return fmt.Errorf("%s.%s: %w", ct.name, ct.cols[j].name, err)
					}
				}
				n++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("%s: %w", ct.name, err)
			}
			out[i] = tableSum{rows: n, sum: hex.EncodeToString(h.Sum(nil))}
		}
		return nil
	})
	return out, err
}

// hashValue writes v's canonical form: a type tag, then an integer as 8
// bytes big-endian, or text and bytes as their length and bytes.
func hashValue(h hash.Hash, v any) error {
	var buf [9]byte
	switch x := v.(type) {
	case nil:
		h.Write([]byte{'n'})
	case int64:
		buf[0] = 'i'
		binary.BigEndian.PutUint64(buf[1:], uint64(x))
		h.Write(buf[:])
	case float64:
		buf[0] = 'f'
		binary.BigEndian.PutUint64(buf[1:], math.Float64bits(x))
		h.Write(buf[:])
	case bool:
		return hashValue(h, int64(boolInt(x)))
	case string:
		if x == multiWorkEmail {
			x = pgMultiWorkEmail
		}
		buf[0] = 's'
		binary.BigEndian.PutUint64(buf[1:], uint64(len(x)))
		h.Write(buf[:])
		h.Write([]byte(x))
	case []byte:
		buf[0] = 'b'
		binary.BigEndian.PutUint64(buf[1:], uint64(len(x)))
		h.Write(buf[:])
		h.Write(x)
	default:
		return fmt.Errorf("a value of type %T", v)
	}
	return nil
}
