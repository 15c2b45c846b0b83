-- 0006: webhook endpoints (Standard Webhooks,
-- https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md)
-- that the agent delivers a tenant's change log to, and a pruned log of the
-- delivery attempts (docs/webhooks.md).
CREATE TABLE webhooks (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    url           TEXT NOT NULL,
    types         TEXT NOT NULL DEFAULT '',   -- comma-separated change-type patterns; '' selects all
    format        TEXT NOT NULL CHECK (format IN ('json', 'scim-set')),
    secret        TEXT NOT NULL,              -- whsec_ + base64 of the HMAC key
    created       INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('active', 'failing', 'disabled')),
    cursor        INTEGER NOT NULL DEFAULT -1, -- seq of the last change delivered (or skipped by the filter); -1: changes after created
    revision      INTEGER NOT NULL DEFAULT 0, -- bumped by replay: a dispatcher holding an older revision stops writing the cursor
    failing_since INTEGER,                    -- first failed attempt of the current streak; NULL when the last attempt succeeded
    detail        TEXT NOT NULL DEFAULT ''    -- the last failure, in words
) STRICT;
CREATE INDEX webhooks_tenant ON webhooks(tenant_id);

CREATE TABLE webhook_deliveries (
    id         INTEGER PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    change_id  TEXT NOT NULL,              -- the webhook-id header
    attempt    INTEGER NOT NULL,           -- 1 for the first attempt of this change
    time       INTEGER NOT NULL,
    status     INTEGER NOT NULL,           -- HTTP status; 0 when there was no response
    error      TEXT NOT NULL DEFAULT '',   -- '' for a 2xx
    duration   INTEGER NOT NULL            -- nanoseconds
) STRICT;
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, id);
