-- Operator and owner alerts (issue 11): one row per alert key (a kind and what it is about, e.g.
-- `turn_failed:<client id>`), claimed under an advisory lock so that several replicas seeing the
-- same condition send it once. `last_sent_at` drives the de-duplication (nothing is sent again
-- for a key within the repeat window) and the hourly budget of the rate limit; `count` is how
-- often the condition was seen, `suppressed` how often it was not sent (duplicate or over the
-- budget).
CREATE TABLE alerts (
    key           text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),
    kind          text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
    client_id     uuid REFERENCES clients(id) ON DELETE CASCADE,
    first_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_sent_at  timestamptz,
    count         integer NOT NULL DEFAULT 1 CHECK (count > 0),
    suppressed    integer NOT NULL DEFAULT 0 CHECK (suppressed >= 0)
);
CREATE INDEX alerts_sent ON alerts (last_sent_at) WHERE last_sent_at IS NOT NULL;
CREATE INDEX alerts_client ON alerts (client_id);

-- The metrics read the failed deliveries per client and channel at every scrape: failed rows
-- are kept for the operator (never pruned), so they are counted on their own index.
CREATE INDEX outbox_failed ON outbox (client_id, channel) WHERE status = 'failed';
