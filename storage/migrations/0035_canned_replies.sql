-- Managers' saved replies, per client: `/t NAME` in a customer's topic sends one (issue 15).
-- Names are stored lower-case; the application checks their alphabet (letters of any script,
-- digits, _ and -), the database only what it can check in any locale.
CREATE TABLE canned_replies (
    client_id   uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 40 AND name = lower(name)
                                     AND name !~ '\s'),
    text        text NOT NULL CHECK (length(text) BETWEEN 1 AND 4000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, name)
);
