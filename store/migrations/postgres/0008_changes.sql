-- 0008 (PostgreSQL): as ../0008_changes.sql, plus change_heads.
CREATE TABLE changes (
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL,
    at          BIGINT NOT NULL,
    type        TEXT NOT NULL,
    record      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE change_cuts (
    tenant_id      TEXT COLLATE "C" PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    pruned_through BIGINT NOT NULL
);

-- PostgreSQL only: the last seq handed out per tenant. Several agents
-- write to one database, each in its own transactions: a write appending a
-- change takes this row's lock (store/changes_postgres.go), so the writes
-- of one tenant serialise on it and its seqs follow commit order.
CREATE TABLE change_heads (
    tenant_id TEXT COLLATE "C" PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL
);

-- PostgreSQL only: a table that holds no rows, whose lock every write
-- transaction takes first — shared, or exclusive to run again writes that
-- another agent's concurrent write made fail (store/dialect.go, writeGate).
CREATE TABLE write_gate (unused BOOLEAN);
