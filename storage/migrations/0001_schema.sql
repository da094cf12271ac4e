-- The whole product schema (PRODUCT.md §2–§8). Invariants the database can hold are encoded here.

CREATE TABLE clients (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    config      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE client_settings (
    client_id                   uuid PRIMARY KEY REFERENCES clients(id) ON DELETE CASCADE,
    telegram_bot_token          text,
    telegram_chat_id            bigint,
    telegram_webhook_secret     text,
    owner_telegram_ids          bigint[] NOT NULL DEFAULT '{}',
    chatflow_token              text,
    chatflow_instance_id        text,
    webhook_secret              text NOT NULL CHECK (length(webhook_secret) >= 16),
    reminder_timeout_1          integer NOT NULL DEFAULT 30 CHECK (reminder_timeout_1 > 0),
    reminder_timeout_2          integer NOT NULL DEFAULT 60,
    auto_close_timeout          integer,
    mute_duration_first_minutes integer NOT NULL DEFAULT 30 CHECK (mute_duration_first_minutes > 0),
    mute_duration_second_hours  integer NOT NULL DEFAULT 24 CHECK (mute_duration_second_hours > 0),
    enable_reminders            boolean NOT NULL DEFAULT true,
    enable_owner_escalation     boolean NOT NULL DEFAULT true,
    debounce_seconds            numeric(4,1) NOT NULL DEFAULT 3 CHECK (debounce_seconds BETWEEN 0 AND 10),
    timezone                    text NOT NULL DEFAULT 'Asia/Almaty',
    templates                   jsonb NOT NULL DEFAULT '{}'::jsonb,
    escalation_policy           jsonb,
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reminder_2_after_1 CHECK (reminder_timeout_2 > reminder_timeout_1),
    CONSTRAINT auto_close_after_reminder_2
        CHECK (auto_close_timeout IS NULL OR auto_close_timeout > reminder_timeout_2)
);

CREATE TABLE branches (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id         uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    slug              text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    instance_id       text,
    phone             text,
    telegram_chat_id  bigint,
    knowledge_tag     text,
    is_active         boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, slug)
);
CREATE UNIQUE INDEX branches_instance_uniq ON branches (client_id, instance_id) WHERE instance_id IS NOT NULL;

CREATE TABLE prompts (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id   uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    name        text NOT NULL DEFAULT 'system',
    text        text NOT NULL CHECK (length(text) > 0),
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX prompts_one_active ON prompts (client_id, name) WHERE is_active;

-- Customers, per client, by WhatsApp JID.
CREATE TABLE users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id   uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    remote_jid  text NOT NULL CHECK (remote_jid ~ '^[0-9]{5,20}@(s\.whatsapp\.net|lid)$'),
    phone       text,
    name        text,
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, remote_jid)
);

CREATE TABLE conversations (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id            uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    user_id              uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    branch_id            uuid REFERENCES branches(id) ON DELETE SET NULL,
    channel              text NOT NULL DEFAULT 'whatsapp' CHECK (channel IN ('whatsapp', 'console')),
    state                text NOT NULL DEFAULT 'bot_active'
                         CHECK (state IN ('bot_active', 'pending', 'manager_active')),
    bot_muted_until      timestamptz,
    no_count             integer NOT NULL DEFAULT 0 CHECK (no_count >= 0),
    telegram_topic_id    bigint,
    telegram_chat_id     bigint,
    pending_notice_at    timestamptz,
    last_message_at      timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, user_id),
    CONSTRAINT manager_active_has_topic
        CHECK (state <> 'manager_active' OR telegram_topic_id IS NOT NULL)
);
CREATE INDEX conversations_topic ON conversations (telegram_chat_id, telegram_topic_id)
    WHERE telegram_topic_id IS NOT NULL;

CREATE TABLE messages (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id      uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role                 text NOT NULL CHECK (role IN ('user', 'assistant', 'manager', 'system')),
    content              text NOT NULL,
    provider_message_id  text,
    metadata             jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);

CREATE TABLE handovers (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id      uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    client_id            uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    status               text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'resolved')),
    trigger_type         text NOT NULL
                         CHECK (trigger_type IN ('intent', 'policy', 'keyword', 'manual', 'llm', 'system')),
    trigger_value        text,
    user_message         text,
    assigned_to          bigint,
    assigned_to_name     text,
    skipped_by           bigint[] NOT NULL DEFAULT '{}',
    telegram_message_id  bigint,
    manager_response     text,
    resolution           text CHECK (resolution IN ('resolved_by_manager', 'returned_to_bot',
                                                    'customer_opt_out', 'auto_closed', 'healed')),
    created_at           timestamptz NOT NULL DEFAULT now(),
    taken_at             timestamptz,
    resolved_at          timestamptz,
    reminder_1_sent_at   timestamptz,
    reminder_2_sent_at   timestamptz,
    CONSTRAINT resolved_has_resolution
        CHECK ((status = 'resolved') = (resolution IS NOT NULL AND resolved_at IS NOT NULL)),
    CONSTRAINT active_is_assigned CHECK (status <> 'active' OR (assigned_to IS NOT NULL AND taken_at IS NOT NULL)),
    CONSTRAINT reminder_2_after_1 CHECK (reminder_2_sent_at IS NULL OR reminder_1_sent_at IS NOT NULL)
);
-- At most one open (pending or active) handover per conversation.
CREATE UNIQUE INDEX handovers_one_open ON handovers (conversation_id) WHERE status IN ('pending', 'active');
CREATE INDEX handovers_pending ON handovers (created_at) WHERE status = 'pending';

-- The durable inbox: every inbound provider event, stored before it is acknowledged.
CREATE TABLE inbound_events (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id             uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    channel               text NOT NULL CHECK (channel IN ('whatsapp', 'console', 'telegram')),
    provider_message_id   text NOT NULL CHECK (length(provider_message_id) BETWEEN 1 AND 256),
    conversation_id       uuid REFERENCES conversations(id) ON DELETE CASCADE,
    branch_id             uuid REFERENCES branches(id) ON DELETE SET NULL,
    payload               jsonb NOT NULL,
    status                text NOT NULL DEFAULT 'queued'
                          CHECK (status IN ('queued', 'processing', 'done', 'failed', 'ignored')),
    attempts              integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    locked_until          timestamptz,
    last_error            text,
    received_at           timestamptz NOT NULL DEFAULT now(),
    processed_at          timestamptz,
    UNIQUE (client_id, channel, provider_message_id)
);
CREATE INDEX inbound_events_queue ON inbound_events (conversation_id, id) WHERE status IN ('queued', 'processing');

-- The outbox: every outbound delivery, written with the state it belongs to.
CREATE TABLE outbox (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id         uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    conversation_id   uuid REFERENCES conversations(id) ON DELETE CASCADE,
    channel           text NOT NULL CHECK (channel IN ('whatsapp', 'telegram', 'console')),
    kind              text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
    payload           jsonb NOT NULL,
    idempotency_key   text NOT NULL UNIQUE,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'processing', 'sent', 'failed')),
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts      integer NOT NULL DEFAULT 8 CHECK (max_attempts > 0),
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    locked_until      timestamptz,
    last_error        text,
    result            jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('pending', 'processing');

-- Telegram update de-duplication (webhook mode and polling restarts).
CREATE TABLE telegram_updates (
    client_id    uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    update_id    bigint NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, update_id)
);

-- Who did what: manager and operator actions, self-heal repairs.
CREATE TABLE audit_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id     uuid REFERENCES clients(id) ON DELETE CASCADE,
    actor_type    text NOT NULL CHECK (actor_type IN ('manager', 'operator', 'system', 'customer')),
    actor_id      text,
    actor_name    text,
    action        text NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
    handover_id   uuid REFERENCES handovers(id) ON DELETE SET NULL,
    conversation_id uuid REFERENCES conversations(id) ON DELETE SET NULL,
    details       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_client ON audit_log (client_id, created_at);
