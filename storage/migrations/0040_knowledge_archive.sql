-- The texts the knowledge base is made of, kept in PostgreSQL (issue 14.4): the vector store
-- holds their embeddings, one collection per embedder, and `knowledge rebuild` makes them again
-- from here (after a restore, or a change of embedder). A backup of the database is a backup of
-- the knowledge.
CREATE TABLE knowledge_documents (
    client_id      uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    doc_name       text NOT NULL CHECK (length(doc_name) > 0),
    knowledge_tag  text,
    content        text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, doc_name)
);

-- A manager's approved answer ([📚 В базу]); `id` is its point in the vector store.
CREATE TABLE learned_answers (
    id             uuid PRIMARY KEY,
    client_id      uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    question       text NOT NULL CHECK (length(question) > 0),
    answer         text NOT NULL CHECK (length(answer) > 0),
    knowledge_tag  text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX learned_answers_client ON learned_answers (client_id, created_at);

-- Which collection serves a logical one (the configured name plus the embedder's, see
-- storage/vectors/base.py `collection_name`): a full rebuild fills a fresh collection and then
-- moves this pointer; every gateway follows it (NOTIFY truffles_knowledge, and a look a minute).
-- No row: the logical name itself.
CREATE TABLE vector_collections (
    name       text PRIMARY KEY,
    active     text NOT NULL,
    embedder   text NOT NULL,
    dim        integer NOT NULL CHECK (dim > 0),
    points     integer NOT NULL DEFAULT 0 CHECK (points >= 0),
    built_at   timestamptz NOT NULL DEFAULT now()
);
