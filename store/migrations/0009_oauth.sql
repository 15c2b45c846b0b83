-- 0009: OAuth 2.0 clients of a tenant's token endpoint (docs/oauth.md).
-- A client authenticates with one of its secrets (RFC 6749 §2.3.1) or, for
-- Workload Identity Federation, with a JWT assertion of the configured
-- issuer, subject and audience (RFC 7523 §2.2). The access tokens it
-- receives are rows of tokens, with client_id set.
CREATE TABLE oauth_clients (
    id          TEXT PRIMARY KEY,            -- client_id (public)
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('secret', 'federation')),
    read_only   INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL,
    revoked     INTEGER,                     -- NULL: active
    issuer      TEXT NOT NULL DEFAULT '',    -- federation: the assertion's exact iss
    subject     TEXT NOT NULL DEFAULT '',    -- federation: its exact sub
    audience    TEXT NOT NULL DEFAULT '',    -- federation: its aud
    jwks_url    TEXT NOT NULL DEFAULT ''     -- federation: the issuer's signing keys
) STRICT;
CREATE INDEX oauth_clients_tenant ON oauth_clients(tenant_id);

-- Several secrets per client, so that one can be rotated without an outage.
CREATE TABLE oauth_client_secrets (
    id          TEXT PRIMARY KEY,            -- public id embedded in the secret (agent/token format)
    client_id   TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    hash        BLOB NOT NULL,               -- SHA-256 of the secret; the secret itself is never stored
    created     INTEGER NOT NULL,
    expires     INTEGER NOT NULL,            -- client secrets always expire
    revoked     INTEGER
) STRICT;
CREATE INDEX oauth_client_secrets_client ON oauth_client_secrets(client_id);

-- An access token issued by the token endpoint names its client; NULL for
-- a Secret Token.
ALTER TABLE tokens ADD COLUMN client_id TEXT REFERENCES oauth_clients(id) ON DELETE CASCADE;
CREATE INDEX tokens_client ON tokens(client_id) WHERE client_id IS NOT NULL;
