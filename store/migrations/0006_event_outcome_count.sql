-- 0006: provisioning events get an outcome ('' from the status; 'cancelled'
-- when the client went away before the answer) and a count: failed
-- authentications are stored as one row per tenant, client address and
-- minute (agg_key), counting the attempts, so a flood of wrong tokens from
-- many addresses adds rows per address and minute, not per request.
ALTER TABLE events ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN agg_key TEXT;
CREATE UNIQUE INDEX events_agg_key ON events(agg_key) WHERE agg_key IS NOT NULL;
