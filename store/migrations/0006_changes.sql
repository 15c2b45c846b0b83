-- 0006: the change feed (docs/change-feed.md). Every committed write to a
-- user or group appends one row to changes, in the same transaction, with the
-- next seq of its tenant; change_heads keeps each tenant's last seq (so a seq
-- is never reused, even when pruning empties the log) and the highest seq
-- pruned (so a reader that asks for pruned changes is told so, never given a
-- silent gap).
CREATE TABLE change_heads (
    tenant_id      TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    last_seq       INTEGER NOT NULL,
    pruned_through INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE changes (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    id          TEXT NOT NULL,               -- unique, stable (the webhook-id)
    at          INTEGER NOT NULL,            -- unix nanoseconds
    type        TEXT NOT NULL,               -- feed.Types
    record      TEXT NOT NULL,               -- the feed.Change as JSON, without seq
    PRIMARY KEY (tenant_id, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX changes_at ON changes(tenant_id, at);
