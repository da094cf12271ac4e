-- What decided an escalation (PRODUCT.md §4 "records what matched"): the rule pattern, the
-- example message and its cosine, or the LLM, e.g. {"source": "semantic", "matched": "можно
-- оплатить через каспи?", "score": 0.91}. The request card shows it as "Почему: …".
ALTER TABLE handovers ADD COLUMN trigger_detail jsonb
    CHECK (trigger_detail IS NULL OR jsonb_typeof(trigger_detail) = 'object');
