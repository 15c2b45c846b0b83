-- 0003: email domains a tenant has proven it owns by a DNS TXT record.
CREATE TABLE domains (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    domain        TEXT NOT NULL,             -- normalised ASCII (IDNA) name
    record_name   TEXT NOT NULL,             -- _roster-challenge.<domain>
    value         TEXT NOT NULL,             -- roster-verification=<token>
    status        TEXT NOT NULL CHECK (status IN ('pending', 'verified', 'failed', 'lapsed')),
    created       INTEGER NOT NULL,
    window_start  INTEGER NOT NULL,          -- start of the current 72 h pending window
    last_check    INTEGER,
    next_check    INTEGER,                   -- NULL: no automatic check (failed)
    verified_at   INTEGER,
    missing_since INTEGER,                   -- verified, but the record was not found since
    detail        TEXT NOT NULL DEFAULT '',  -- the last check's outcome, in words
    PRIMARY KEY (tenant_id, domain)
) STRICT;
CREATE INDEX domains_next_check ON domains(next_check) WHERE next_check IS NOT NULL;
