-- Handling a stored Telegram update takes a lease (`claimed_until`): the sweep leaves an update
-- alone while someone is still handling it, and takes it again only once the lease ran out.
-- `attempts` counts the handlings begun, so an update that keeps failing is given up on.
ALTER TABLE telegram_updates
    ADD COLUMN claimed_until timestamptz,
    ADD COLUMN attempts integer NOT NULL DEFAULT 0;
