-- 0011: the change log moves to a table with a rowid. Its records (about
-- 940 bytes for a user) are larger than what a WITHOUT ROWID table keeps of
-- a row on its b-tree page (about 1,000 bytes of a 4 KiB page, minus the
-- key; https://www.sqlite.org/withoutrowid.html advises WITHOUT ROWID only
-- for small rows), so every record took an overflow page of its own: 2,286
-- pages for 2,000 user records, against 512 (its index included) in a
-- rowid table, which keeps up to 4 KiB of a row on its leaf page.
-- (tenant_id, seq) stays unique, now by an index; the rows, their seqs and
-- their order are copied unchanged.
CREATE TABLE changes_0011 (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    id          TEXT NOT NULL,               -- unique, stable (the webhook-id)
    at          INTEGER NOT NULL,            -- unix nanoseconds
    type        TEXT NOT NULL,               -- feed.Types
    record      TEXT NOT NULL,               -- the feed.Change as JSON, without its seq
    UNIQUE (tenant_id, seq)
) STRICT;

INSERT INTO changes_0011(tenant_id, seq, id, at, type, record)
    SELECT tenant_id, seq, id, at, type, record FROM changes ORDER BY tenant_id, seq;
DROP TABLE changes;
ALTER TABLE changes_0011 RENAME TO changes;
