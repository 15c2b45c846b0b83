package store

import (
	"fmt"
	"time"
)

// appendChangePostgres is AppendChange on PostgreSQL. There, several agents
// (several DBs, each with its own writer) write to one database, so "one
// more than the tenant's newest seq" computed in each agent's transaction
// could hand two agents the same seq, or let a larger seq commit before a
// smaller one. Instead the write first takes the tenant's row in
// change_heads — an upsert that bumps its seq and returns it — and keeps
// that row lock until it commits or rolls back:
//   - two agents' writes to one tenant serialise on the row: the second
//     waits until the first ends, so seqs are handed out in commit order
//     and a reader never sees seq n+1 without seq n;
//   - writes run REPEATABLE READ (dialect.go): if the first committed, the
//     second's upsert fails with a serialization error and the write runs
//     again (runBatch), now seeing the new head; if it rolled back, the
//     bump is undone with it, so no seq is skipped.
//
// The first change of a tenant creates its row from the log (or the prune
// cut), as SQLite computes every seq.
func (t *Tx) appendChangePostgres(tenantID, id, typ string, at time.Time, record []byte) (int64, error) {
	var seq int64
	err := t.queryRow(`INSERT INTO change_heads(tenant_id, seq) VALUES (?1,
		COALESCE((SELECT max(seq) FROM changes WHERE tenant_id = ?1), (SELECT pruned_through FROM change_cuts WHERE tenant_id = ?1), 0) + 1)
		ON CONFLICT (tenant_id) DO UPDATE SET seq = change_heads.seq + 1 RETURNING seq`, tenantID).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("append change: %w", mapErr(err))
	}
	if _, err := t.exec(`INSERT INTO changes(tenant_id, seq, id, at, type, record) VALUES (?, ?, ?, ?, ?, ?)`,
		tenantID, seq, id, nanos(at), typ, string(record)); err != nil {
		return 0, fmt.Errorf("append change: %w", err)
	}
	return seq, nil
}
