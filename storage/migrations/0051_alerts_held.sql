-- An alert the operator's chat could not take (Telegram down) is held with its text and handed
-- over when the chat answers again, instead of being released and raised anew on every round
-- of the watch (which also queued a new copy to the owners each time).
ALTER TABLE alerts ADD COLUMN held_text text CHECK (length(held_text) <= 8000),
                   ADD COLUMN held_since timestamptz;
CREATE INDEX alerts_held ON alerts (held_since) WHERE held_text IS NOT NULL;
