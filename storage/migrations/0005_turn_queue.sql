-- The turn queue: one row per conversation that has inbound events waiting (or a turn in
-- progress), with the time its turn is due. A claim takes the rows due first, on their own
-- index, whatever the backlog or the table statistics:
--   SELECT … FROM turn_queue WHERE due_at <= now() ORDER BY due_at LIMIT n FOR UPDATE SKIP LOCKED
-- A claimed row is leased by moving its due_at to the end of the lease (renewed by the worker's
-- heartbeat), so a crashed worker's turn becomes due again by itself within one lease.
-- Rows are written in the transaction that stores an event, and updated or removed in the one
-- that completes the turn.

CREATE TABLE turn_queue (
    conversation_id  uuid PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    client_id        uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    first_at         timestamptz NOT NULL,  -- the earliest waiting event (the 10 s cap counts from it)
    last_at          timestamptz NOT NULL,  -- the latest one (the debounce window counts from it)
    due_at           timestamptz NOT NULL,
    leased           boolean NOT NULL DEFAULT false,
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0)  -- the claim's fencing token
);
CREATE INDEX turn_queue_due ON turn_queue (due_at);

INSERT INTO turn_queue (conversation_id, client_id, first_at, last_at, due_at)
SELECT e.conversation_id, min(e.client_id::text)::uuid, min(e.received_at), max(e.received_at), now()
  FROM inbound_events e
 WHERE e.status IN ('queued', 'processing') AND e.conversation_id IS NOT NULL
 GROUP BY e.conversation_id;

-- Accepting an inbound event in one round trip: the customer, their conversation, the event
-- (de-duplicated on the provider's message id) and the conversation's place in the turn queue.
-- A duplicate writes nothing and returns the conversation with a NULL event id.
CREATE FUNCTION accept_inbound_event(
    p_client uuid, p_branch uuid, p_channel text, p_jid text, p_name text,
    p_provider_id text, p_payload jsonb, p_debounce float8, p_max_wait float8,
    OUT conversation_id uuid, OUT event_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_user uuid;
    v_name text;
    v_branch uuid;
    v_state text;
BEGIN
    SELECT e.conversation_id INTO conversation_id FROM inbound_events e
     WHERE e.client_id = p_client AND e.channel = p_channel AND e.provider_message_id = p_provider_id;
    IF FOUND THEN
        RETURN;
    END IF;

    SELECT u.id, u.name INTO v_user, v_name FROM users u
     WHERE u.client_id = p_client AND u.remote_jid = p_jid;
    IF NOT FOUND THEN
        INSERT INTO users (client_id, remote_jid, phone, name)
        VALUES (p_client, p_jid, split_part(p_jid, '@', 1), p_name)
        ON CONFLICT (client_id, remote_jid) DO UPDATE SET name = coalesce(EXCLUDED.name, users.name)
        RETURNING id INTO v_user;
    ELSIF p_name IS NOT NULL AND v_name IS DISTINCT FROM p_name THEN
        UPDATE users SET name = p_name WHERE id = v_user;
    END IF;

    SELECT c.id, c.branch_id, c.state INTO conversation_id, v_branch, v_state FROM conversations c
     WHERE c.client_id = p_client AND c.user_id = v_user;
    IF NOT FOUND THEN
        INSERT INTO conversations (client_id, user_id, branch_id, channel, last_message_at)
        VALUES (p_client, v_user, p_branch, p_channel, now())
        ON CONFLICT (client_id, user_id) DO UPDATE SET last_message_at = now()
        RETURNING id INTO conversation_id;
    ELSIF p_branch IS NOT NULL AND v_branch IS DISTINCT FROM p_branch AND v_state = 'bot_active' THEN
        -- A customer writing through another branch's number moves there, but not while a
        -- manager of the current branch has the request.
        UPDATE conversations SET branch_id = p_branch, updated_at = now() WHERE id = conversation_id;
    END IF;

    INSERT INTO inbound_events (client_id, channel, provider_message_id, conversation_id,
                                branch_id, payload)
    VALUES (p_client, p_channel, p_provider_id, conversation_id, p_branch, p_payload)
    ON CONFLICT (client_id, channel, provider_message_id) DO NOTHING
    RETURNING id INTO event_id;
    IF event_id IS NULL THEN
        RETURN;
    END IF;

    INSERT INTO turn_queue AS q (conversation_id, client_id, first_at, last_at, due_at)
    VALUES (conversation_id, p_client, now(), now(), now() + make_interval(secs => p_debounce))
    ON CONFLICT ON CONSTRAINT turn_queue_pkey DO UPDATE
       SET last_at = now(),
           due_at = CASE WHEN q.leased THEN q.due_at
                         ELSE least(now() + make_interval(secs => p_debounce),
                                    q.first_at + make_interval(secs => p_max_wait)) END;
    PERFORM pg_notify('truffles_inbox', '');
END $$;
