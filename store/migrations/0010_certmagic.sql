-- 0010: certificate storage shared by every agent on the database
-- (github.com/caddyserver/certmagic's Storage: the ACME account, the
-- certificates, their keys and metadata), and the named locks that make one
-- agent obtain or renew a certificate while the others wait. A lock row is
-- held by one owner until it expires; its holder keeps moving the expiry
-- forward, so the lock of an agent that died expires on its own.
CREATE TABLE certmagic_data (
    key       TEXT PRIMARY KEY,     -- certmagic's key: slash-separated path
    value     BLOB NOT NULL,
    modified  INTEGER NOT NULL      -- unix nanoseconds
) STRICT;

CREATE TABLE certmagic_locks (
    name     TEXT PRIMARY KEY,
    owner    TEXT NOT NULL,         -- the holder's random token
    expires  INTEGER NOT NULL       -- unix nanoseconds
) STRICT;
