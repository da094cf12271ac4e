-- Deliveries are retried by deadline, not by a count of attempts (PRODUCT.md §8): a row that
-- belongs to an open request (`handover_id`) is retried while it is open; any other row until
-- `deliver_until`. A claimed row is leased by moving `next_attempt_at` to the end of its lease,
-- so rows whose worker died become due again by themselves; `outbox_lane` lets the claim check
-- each row's conversation lane with one index probe.
ALTER TABLE outbox
    ADD COLUMN handover_id uuid REFERENCES handovers(id) ON DELETE SET NULL,
    ADD COLUMN deliver_until timestamptz;
UPDATE outbox SET deliver_until = created_at + interval '1 day';
UPDATE outbox SET next_attempt_at = locked_until
 WHERE status = 'processing' AND locked_until > next_attempt_at;
ALTER TABLE outbox DROP COLUMN max_attempts;
CREATE INDEX outbox_lane ON outbox (conversation_id, channel, id)
    WHERE status IN ('pending', 'processing');
