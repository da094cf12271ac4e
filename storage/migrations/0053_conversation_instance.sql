-- The provider number (ChatFlow instance) a customer last wrote on, kept on the conversation:
-- what the bot says goes out on the number of the message it answers, and now so does what is
-- sent later (a manager's reply, a rating question), as PRODUCT.md §2 has it ("replies go out
-- through the instance the message came in on"), rather than on the branch's or the client's
-- own number. NULL: no message named one (a client with one number whose webhook URL carries no
-- `instance_id`). Written by `accept_inbound_event` only when it changes: the ingest path's one
-- round trip stays one, and a steady conversation's row is not touched.
ALTER TABLE conversations ADD COLUMN instance_id text;

CREATE OR REPLACE FUNCTION accept_inbound_event(
    p_client uuid, p_branch uuid, p_channel text, p_jid text, p_name text,
    p_provider_id text, p_payload jsonb, p_debounce float8, p_max_wait float8,
    OUT conversation_id uuid, OUT event_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_user uuid;
    v_name text;
    v_branch uuid;
    v_state text;
    v_instance text := p_payload->'inbound'->>'instance_id';
    v_instance_was text;
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

    SELECT c.id, c.branch_id, c.state, c.instance_id
      INTO conversation_id, v_branch, v_state, v_instance_was FROM conversations c
     WHERE c.client_id = p_client AND c.user_id = v_user;
    IF NOT FOUND THEN
        INSERT INTO conversations (client_id, user_id, branch_id, channel, last_message_at,
                                   instance_id)
        VALUES (p_client, v_user, p_branch, p_channel, now(), v_instance)
        ON CONFLICT (client_id, user_id) DO UPDATE SET last_message_at = now()
        RETURNING id INTO conversation_id;
    ELSE
        IF p_branch IS NOT NULL AND v_branch IS DISTINCT FROM p_branch AND v_state = 'bot_active' THEN
            -- A customer writing through another branch's number moves there, but not while a
            -- manager of the current branch has the request.
            UPDATE conversations SET branch_id = p_branch, updated_at = now() WHERE id = conversation_id;
        END IF;
        IF v_instance IS NOT NULL AND v_instance IS DISTINCT FROM v_instance_was THEN
            UPDATE conversations SET instance_id = v_instance, updated_at = now()
             WHERE id = conversation_id;
        END IF;
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
