-- 0011: the change log moves to a table with a rowid. Its records (about
-- 1 KB for a user) are larger than what a WITHOUT ROWID table keeps on its
-- b-tree page (about 1,000 bytes of a 4 KiB page for a key's row,
-- https://www.sqlite.org/withoutrowid.html#when_to_use_without_rowid), so
-- every record took an overflow page of its own: four pages written per
-- change instead of a quarter of one. A rowid table keeps up to 4 KiB of a
-- row on its leaf page; (tenant_id, seq) stays unique, now by an index, and
-- the rows, their seqs and their order are copied unchanged.
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
