-- PRODUCT.md §3: state pending <=> an open pending handover; manager_active <=> an open active
-- handover; bot_active <=> no open handover. A CHECK cannot look at another table, so a deferred
-- constraint trigger checks each touched conversation at commit: a transaction that changes the
-- state without its handover (or the reverse) fails as a whole.

CREATE FUNCTION check_conversation_state(conv_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    conv_state text;
    open_status text;
BEGIN
    SELECT state INTO conv_state FROM conversations WHERE id = conv_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT status INTO open_status FROM handovers
     WHERE conversation_id = conv_id AND status IN ('pending', 'active');
    IF (conv_state = 'bot_active' AND open_status IS NOT NULL)
       OR (conv_state = 'pending' AND open_status IS DISTINCT FROM 'pending')
       OR (conv_state = 'manager_active' AND open_status IS DISTINCT FROM 'active') THEN
        RAISE EXCEPTION 'conversation % is %, open handover is %', conv_id, conv_state,
            coalesce(open_status, 'none')
            USING ERRCODE = 'check_violation', CONSTRAINT = 'conversation_state_matches_handover';
    END IF;
END $$;

CREATE FUNCTION conversations_state_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM check_conversation_state(NEW.id);
    RETURN NULL;
END $$;

CREATE FUNCTION handovers_state_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM check_conversation_state(OLD.conversation_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM check_conversation_state(NEW.conversation_id);
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER conversation_state_matches_handover
    AFTER INSERT OR UPDATE OF state ON conversations
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION conversations_state_trigger();

CREATE CONSTRAINT TRIGGER handover_matches_conversation_state
    AFTER INSERT OR UPDATE OF status, conversation_id OR DELETE ON handovers
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION handovers_state_trigger();
