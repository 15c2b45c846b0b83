-- 0004: when a user became inactive (active=false), for the retention purge.
-- Users already inactive count from their last modification.
ALTER TABLE resources ADD COLUMN inactive_since INTEGER;
UPDATE resources SET inactive_since = modified WHERE kind = 'User' AND active = 0;
CREATE INDEX resources_inactive ON resources(tenant_id, inactive_since) WHERE inactive_since IS NOT NULL;
