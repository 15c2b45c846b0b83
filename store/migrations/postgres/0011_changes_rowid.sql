-- 0011 (PostgreSQL): nothing to do. ../0011_changes_rowid.sql moves
-- SQLite's change log out of a WITHOUT ROWID table, whose large rows each
-- took an overflow page; PostgreSQL's heap tables with a primary-key index
-- (0008) already store rows that way. The file keeps the versions of both
-- dialects in step.
SELECT 1;
