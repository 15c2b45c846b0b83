-- 0005: which attributes of a user Entra (a provisioning token) has written —
-- those are managed by Entra and other writers may not change them — and app
-- tokens: read-write tokens for the organisation's own applications.
ALTER TABLE resources ADD COLUMN managed TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tokens ADD COLUMN app INTEGER NOT NULL DEFAULT 0;
