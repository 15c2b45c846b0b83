-- 0006 (PostgreSQL): as ../0006_event_outcome_count.sql.
ALTER TABLE events ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN count BIGINT NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN agg_key TEXT COLLATE "C";
CREATE UNIQUE INDEX events_agg_key ON events(agg_key) WHERE agg_key IS NOT NULL;
