-- 0012: the named locks of 0010 serve more than certificates: the agent's
-- background work (retention purges, domain checks, webhook delivery per
-- endpoint) runs under one of them, so that several agents on one database
-- run it once (store/locks.go). The table keeps its rows and columns.
ALTER TABLE certmagic_locks RENAME TO locks;
