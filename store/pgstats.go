package store

import (
	"context"
	"fmt"
	"time"
)

// PostgreSQL's planner statistics (https://www.postgresql.org/docs/current/planner-stats.html).
//
// Without them the planner cannot tell resources_id from resources_name:
// both begin with (tenant_id, kind), and with default selectivities it
// estimates one row either way and picks resources_name for a lookup by
// id, which then reads every user of the tenant. Measured on 10,000 users:
// 12.5 ms per lookup by id instead of 0.05 ms, and PATCH /Users at 70/s
// instead of 300–400/s. Autovacuum analyzes a table only once a minute
// (autovacuum_naptime); Entra's first cycle creates thousands of users
// well within that, and `roster migrate --to` copies a whole directory at
// once. So the store keeps the statistics current itself, by autovacuum's
// rule (https://www.postgresql.org/docs/current/routine-vacuuming.html#AUTOVACUUM)
// with a lower threshold, looked at every few seconds: a table is analyzed
// once the rows changed since its last ANALYZE reach analyzeMinRows and a
// tenth of its rows. Every agent on the database looks; a second ANALYZE
// of the same table waits for the first and is cheap (it samples).

// analyzedTables are the tables whose plans depend on statistics: the
// lookups by id and name, memberships, and the change log.
var analyzedTables = []string{"resources", "members", "changes"}

const (
	analyzeMinRows = 200
	analyzeEvery   = 2 * time.Second // how often keepStats looks
)

// keepStats is the loop that keeps the statistics current, until the
// store closes (PostgreSQL only).
func (db *DB) keepStats() {
	defer close(db.statsDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-db.quit
		cancel()
	}()
	// The first look waits a tick too: a CLI command that opens the store
	// for a moment has ended by then, and a copy analyzes what it filled.
	t := time.NewTicker(analyzeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stale, err := db.staleTables(ctx)
		if err == nil && len(stale) > 0 {
			err = db.analyze(ctx, stale...)
		}
		if err != nil && ctx.Err() == nil {
			db.log.Warn("updating PostgreSQL's planner statistics failed; autovacuum will do it later", "err", fmt.Sprint(err))
		}
	}
}

// staleTables returns the analyzed tables whose rows changed enough since
// their last ANALYZE (or that were never analyzed and hold rows).
func (db *DB) staleTables(ctx context.Context) ([]string, error) {
	rows, err := db.pool.QueryContext(ctx, `SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
		WHERE s.schemaname = current_schema() AND s.relname = ANY($1)
		AND s.n_mod_since_analyze >= $2 AND s.n_mod_since_analyze >= 0.1 * greatest(c.reltuples, s.n_live_tup)`,
		analyzedTables, analyzeMinRows)
	if err != nil {
		return nil, fmt.Errorf("planner statistics: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// analyze runs ANALYZE on tables (all analyzedTables if none are named) on
// a connection of its own: the readers are read-only, and the writer keeps
// writing meanwhile.
func (db *DB) analyze(ctx context.Context, tables ...string) error {
	if len(tables) == 0 {
		tables = analyzedTables
	}
	q := "ANALYZE "
	for i, t := range tables {
		if i > 0 {
			q += ", "
		}
		q += t // from analyzedTables: fixed names
	}
	c, err := db.pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("planner statistics: %w", err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("planner statistics: %s: %w", q, err)
	}
	return nil
}
