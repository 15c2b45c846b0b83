-- 0006: the change feed (docs/change-feed.md). Every committed write to a
-- user or group appends one row to changes, in the same transaction, with the
-- next seq of its tenant: one more than the tenant's newest change, or than
-- the cut of change_cuts when pruning emptied the log, so that a seq is never
-- reused. change_cuts keeps, per tenant, the highest seq pruned, so that a
-- reader that asks for pruned changes is told so, never given a silent gap.
CREATE TABLE changes (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    id          TEXT NOT NULL,               -- unique, stable (the webhook-id)
    at          INTEGER NOT NULL,            -- unix nanoseconds
    type        TEXT NOT NULL,               -- feed.Types
    record      TEXT NOT NULL,               -- the feed.Change as JSON, without its seq
    PRIMARY KEY (tenant_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE change_cuts (
    tenant_id      TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    pruned_through INTEGER NOT NULL
) STRICT;
