-- The flood shield (issue 11 item 6): per-client limits on what one customer's turn may carry.
-- NULL means the process default (FLOOD_MESSAGES_PER_MINUTE, MAX_TURN_CHARS,
-- MAX_EVENTS_PER_TURN); the ranges are those `client set` and the admin API accept.
ALTER TABLE client_settings
    ADD COLUMN flood_messages_per_minute integer
        CONSTRAINT client_settings_flood_messages_per_minute_check
        CHECK (flood_messages_per_minute BETWEEN 1 AND 600),
    ADD COLUMN max_turn_chars integer
        CONSTRAINT client_settings_max_turn_chars_check
        CHECK (max_turn_chars BETWEEN 200 AND 20000),
    ADD COLUMN max_events_per_turn integer
        CONSTRAINT client_settings_max_events_per_turn_check
        CHECK (max_events_per_turn BETWEEN 1 AND 100);

-- When the customer was last told "many messages, please wait"; cleared by the first turn that
-- is no longer a flood, so that each flood gets one note.
ALTER TABLE conversations ADD COLUMN flood_notice_at timestamptz;

-- A customer's messages of the last minute, counted at each claim (bounded by the limit).
CREATE INDEX inbound_events_conversation_received ON inbound_events (conversation_id, received_at);

-- Per-client fairness of turn claims: each client's earliest due conversations, and how many
-- turns each client has in progress.
CREATE INDEX turn_queue_client_due ON turn_queue (client_id, due_at);
CREATE INDEX turn_queue_leased ON turn_queue (client_id) WHERE leased;
