-- Per-client sensitivity of the semantic escalation layer: added to the embedder's calibrated
-- similarity threshold (positive: fewer escalations on similarity, negative: more).
ALTER TABLE client_settings ADD COLUMN policy_threshold_offset numeric(4, 3) NOT NULL DEFAULT 0
    CONSTRAINT client_settings_policy_threshold_offset_check
    CHECK (policy_threshold_offset BETWEEN -0.1 AND 0.1);
