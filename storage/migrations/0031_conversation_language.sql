-- The language the customer writes in (core/language.py): customer texts and the LLM's answers
-- follow it. NULL until the customer has written something that tells.
ALTER TABLE conversations
    ADD COLUMN language text CHECK (language IN ('ru', 'kk', 'en'));
