-- 0005 (PostgreSQL): as ../0005_managed_attributes.sql.
ALTER TABLE resources ADD COLUMN managed TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tokens ADD COLUMN app BIGINT NOT NULL DEFAULT 0;
