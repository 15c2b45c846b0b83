-- 0010 (PostgreSQL): as ../0010_certmagic.sql.
CREATE TABLE certmagic_data (
    key       TEXT COLLATE "C" PRIMARY KEY,
    value     BYTEA NOT NULL,
    modified  BIGINT NOT NULL
);
CREATE TABLE certmagic_locks (
    name     TEXT COLLATE "C" PRIMARY KEY,
    owner    TEXT NOT NULL,
    expires  BIGINT NOT NULL
);
