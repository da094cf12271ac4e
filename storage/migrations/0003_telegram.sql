-- Telegram updates are kept with their payload until handled, so an update acknowledged to
-- Telegram (webhook 200, or a polling offset moved past it) is not lost when the process dies
-- before handling it: a sweep picks unhandled rows up again.
ALTER TABLE telegram_updates
    ADD COLUMN payload jsonb,
    ADD COLUMN processed_at timestamptz;
CREATE INDEX telegram_updates_unprocessed ON telegram_updates (received_at)
    WHERE processed_at IS NULL;
