-- 0002: case-folded event names (and, in Go, resource names refolded with
-- filter.Fold; see goSteps in migrate.go), so `roster log --user` matches non-ASCII
-- names case-insensitively (SQLite's lower() folds ASCII only). Rows written
-- before this migration get an ASCII fold, the best SQL can do.
ALTER TABLE events ADD COLUMN name_folded TEXT NOT NULL DEFAULT '';
UPDATE events SET name_folded = lower(name);
