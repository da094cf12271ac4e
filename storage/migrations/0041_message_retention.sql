-- How long a client's message history is kept (issue 14.6), in days: NULL follows
-- MESSAGE_RETENTION_DAYS, 0 keeps it for ever. The scheduler's retention pass deletes older
-- messages and the inbound events that carried them.
ALTER TABLE client_settings ADD COLUMN message_retention_days integer
    CONSTRAINT client_settings_message_retention_days_check
    CHECK (message_retention_days IS NULL OR message_retention_days BETWEEN 0 AND 36500);
