-- A turn that only answers is written in one statement (storage/repositories/turns.py). When its
-- events were claimed again by another worker meanwhile (its lease ran out), the statement must
-- fail as a whole, its lines and reply with it: this check raises, and the caller reads the
-- error as LostClaim. `recorded`: whether the conversation was still as the turn saw it (when
-- it was not, nothing was written and nothing is checked).
CREATE FUNCTION answered_turn_claims_held(recorded boolean, ended bigint, claimed integer)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF recorded AND ended <> claimed THEN
        RAISE EXCEPTION '% of % events were claimed again', claimed - ended, claimed
            USING ERRCODE = 'TR001';
    END IF;
    RETURN recorded;
END $$;
