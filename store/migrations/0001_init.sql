-- 0001: tenants, tokens, resources (users and groups), memberships, events, settings.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,            -- slug used in the Tenant URL: /scim/{id}/v2
    name        TEXT NOT NULL,
    created     INTEGER NOT NULL,            -- unix nanoseconds
    settings    TEXT NOT NULL DEFAULT '{}'   -- JSON: per-tenant options
) STRICT;

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,            -- public id embedded in the token (not secret)
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    hash        BLOB NOT NULL,               -- SHA-256 of the whole token; the token itself is never stored
    read_only   INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL,
    expires     INTEGER,                     -- NULL: never
    revoked     INTEGER,                     -- NULL: active
    last_used   INTEGER
) STRICT;
CREATE INDEX tokens_tenant ON tokens(tenant_id);

-- Users and groups share one table: kind 'User' or 'Group'. name_lc is the
-- attribute Entra matches on and that must be unique per tenant, compared
-- case-insensitively: userName for users, displayName for groups.
CREATE TABLE resources (
    seq             INTEGER PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('User', 'Group')),
    id              TEXT NOT NULL,
    name_lc         TEXT NOT NULL,
    external_id     TEXT,
    work_email_lc   TEXT,
    display_name_lc TEXT,
    active          INTEGER,
    created         INTEGER NOT NULL,
    modified        INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    doc             TEXT NOT NULL            -- the SCIM document without id, meta and members
) STRICT;
CREATE UNIQUE INDEX resources_id ON resources(tenant_id, kind, id);
CREATE UNIQUE INDEX resources_name ON resources(tenant_id, kind, name_lc);
CREATE INDEX resources_external_id ON resources(tenant_id, kind, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX resources_work_email ON resources(tenant_id, kind, work_email_lc) WHERE work_email_lc IS NOT NULL;
CREATE INDEX resources_display_name ON resources(tenant_id, kind, display_name_lc) WHERE display_name_lc IS NOT NULL;

-- Group members are rows, never a JSON array: adding one costs the same at 10
-- or 100k members (docs/architecture.md#storage).
CREATE TABLE members (
    group_seq   INTEGER NOT NULL REFERENCES resources(seq) ON DELETE CASCADE,
    member_id   TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    member_type TEXT NOT NULL,               -- 'User' or 'Group'
    PRIMARY KEY (group_seq, member_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX members_member ON members(tenant_id, member_id);

CREATE TABLE events (
    seq           INTEGER PRIMARY KEY,
    at            INTEGER NOT NULL,
    tenant_id     TEXT NOT NULL,
    token_name    TEXT NOT NULL DEFAULT '',
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    resource_type TEXT NOT NULL DEFAULT '',
    resource_id   TEXT NOT NULL DEFAULT '',
    name          TEXT NOT NULL DEFAULT '',   -- userName or displayName
    status        INTEGER NOT NULL,
    scim_type     TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT '',
    duration_us   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX events_tenant_at ON events(tenant_id, at);
CREATE INDEX events_at ON events(at);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
