-- 0009 (PostgreSQL): as ../0009_oauth.sql.
CREATE TABLE oauth_clients (
    id          TEXT COLLATE "C" PRIMARY KEY,
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('secret', 'federation')),
    read_only   BIGINT NOT NULL DEFAULT 0,
    created     BIGINT NOT NULL,
    revoked     BIGINT,
    issuer      TEXT NOT NULL DEFAULT '',
    subject     TEXT NOT NULL DEFAULT '',
    audience    TEXT NOT NULL DEFAULT '',
    jwks_url    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX oauth_clients_tenant ON oauth_clients(tenant_id);

CREATE TABLE oauth_client_secrets (
    id          TEXT COLLATE "C" PRIMARY KEY,
    client_id   TEXT COLLATE "C" NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    hash        BYTEA NOT NULL,
    created     BIGINT NOT NULL,
    expires     BIGINT NOT NULL,
    revoked     BIGINT
);
CREATE INDEX oauth_client_secrets_client ON oauth_client_secrets(client_id);

ALTER TABLE tokens ADD COLUMN client_id TEXT COLLATE "C" REFERENCES oauth_clients(id) ON DELETE CASCADE;
CREATE INDEX tokens_client ON tokens(client_id) WHERE client_id IS NOT NULL;
