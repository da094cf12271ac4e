-- The owner's daily summary (issue 15): the local time it is sent at (NULL: off), and one row per
-- client and local day, claimed in the transaction that queues the report, so that a report goes
-- out once however many schedulers race.
ALTER TABLE client_settings ADD COLUMN daily_report_time text
    CONSTRAINT daily_report_time_format
    CHECK (daily_report_time IS NULL OR daily_report_time ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$');

CREATE TABLE daily_reports (
    client_id     uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    report_date   date NOT NULL,
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, report_date),
    CHECK (period_start < period_end)
);

-- The reports count a period's messages and a client's handovers by when they were written:
-- without these, each report reads every message ever stored.
CREATE INDEX messages_created ON messages (created_at);
CREATE INDEX handovers_client_created ON handovers (client_id, created_at);
