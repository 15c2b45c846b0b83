-- 0004 (PostgreSQL): as ../0004_inactive_since.sql.
ALTER TABLE resources ADD COLUMN inactive_since BIGINT;
UPDATE resources SET inactive_since = modified WHERE kind = 'User' AND active = 0;
CREATE INDEX resources_inactive ON resources(tenant_id, inactive_since) WHERE inactive_since IS NOT NULL;
