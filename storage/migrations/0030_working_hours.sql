-- Working hours (PRODUCT.md §10): a weekly schedule and dated exceptions per client, and per
-- branch (overriding the client's), read in the client's timezone. The document is validated
-- by the application (core/hours.py) and stored in its canonical form; NULL means always open.
ALTER TABLE client_settings
    ADD COLUMN working_hours jsonb
        CHECK (working_hours IS NULL OR jsonb_typeof(working_hours) = 'object');
ALTER TABLE branches
    ADD COLUMN working_hours jsonb
        CHECK (working_hours IS NULL OR jsonb_typeof(working_hours) = 'object');
