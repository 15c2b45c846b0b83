-- 0003 (PostgreSQL): as ../0003_domains.sql.
CREATE TABLE domains (
    tenant_id     TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    domain        TEXT COLLATE "C" NOT NULL,
    record_name   TEXT NOT NULL,
    value         TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'verified', 'failed', 'lapsed')),
    created       BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    last_check    BIGINT,
    next_check    BIGINT,
    verified_at   BIGINT,
    missing_since BIGINT,
    detail        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, domain)
);
CREATE INDEX domains_next_check ON domains(next_check) WHERE next_check IS NOT NULL;
