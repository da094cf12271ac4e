-- A client's own synonym groups for knowledge search (Kazakh / Russian / English service names,
-- old and new place names): a JSON list of lists of strings. NULL: none beyond the built-in
-- groups and those ingestion learns from headings.
ALTER TABLE client_settings ADD COLUMN knowledge_synonyms jsonb;
