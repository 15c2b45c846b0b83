-- 0002 (PostgreSQL): as ../0002_events_name_folded.sql; the Go step
-- refoldNames runs after it on both backends.
ALTER TABLE events ADD COLUMN name_folded TEXT NOT NULL DEFAULT '';
UPDATE events SET name_folded = lower(name);
