-- Customer ratings (core/rating.py): after a manager resolves a request, a client that asks for
-- ratings sends the customer one question; a 1–5 answer is stored on the handover.
ALTER TABLE client_settings
    ADD COLUMN ask_rating boolean NOT NULL DEFAULT false;
ALTER TABLE handovers
    ADD COLUMN rating smallint CHECK (rating BETWEEN 1 AND 5),
    ADD COLUMN rating_asked_at timestamptz,
    ADD COLUMN rated_at timestamptz,
    ADD CONSTRAINT rated_has_rating CHECK ((rating IS NULL) = (rated_at IS NULL)),
    ADD CONSTRAINT rated_after_asked CHECK (rating IS NULL OR rating_asked_at IS NOT NULL);
-- The question awaiting an answer. No foreign key: the handover references the conversation
-- already (a cycle of cascades would be fragile); the rating code checks the pair.
ALTER TABLE conversations
    ADD COLUMN rating_handover_id uuid,
    ADD COLUMN rating_due_until timestamptz,
    ADD CONSTRAINT rating_due_with_handover
        CHECK ((rating_handover_id IS NULL) = (rating_due_until IS NULL));
