"""Data lifecycle (issue 14.6): what a client owns (export, delete), one customer's data (export,
erase on request: Kazakhstan's personal-data law), and the message-history retention prune."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg

Executor = asyncpg.Connection | asyncpg.Pool
PRUNE_BATCH = 5000


async def client_tables(db: Executor) -> list[str]:
    """Every table of the schema with a `client_id` column (they all reference clients)."""
    rows = await db.fetch(
        """SELECT table_name FROM information_schema.columns
            WHERE table_schema = 'public' AND column_name = 'client_id'
            ORDER BY table_name""")
    return [r["table_name"] for r in rows]


async def client_rows(db: Executor, client_id: UUID) -> dict[str, int]:
    counts = {}
    for table in await client_tables(db):
        rows = await db.fetchval(f'SELECT count(*) FROM public."{table}" WHERE client_id = $1',
                                 client_id)
        if rows:
            counts[table] = rows
    counts["messages"] = await db.fetchval(
        """SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
            WHERE c.client_id = $1""", client_id)
    return counts


async def media_urls_of_client(db: Executor, client_id: UUID) -> list[str]:
    return [r["url"] for r in await db.fetch(
        """SELECT payload->>'url' AS url FROM outbox
            WHERE client_id = $1 AND payload ? 'url'""", client_id)]


async def delete_client(conn: asyncpg.Connection, client_id: UUID, slug: str,
                        actor: str) -> dict[str, int]:
    """Every row the client owns (its tables cascade from `clients`), in one transaction, and
    an audit line without its id (`client_delete`, its slug and how many rows went)."""
    async with conn.transaction():
        counts = {"clients": 1, **await client_rows(conn, client_id)}
        await conn.execute("DELETE FROM clients WHERE id = $1", client_id)
        await conn.execute(
            """INSERT INTO audit_log (client_id, actor_type, actor_id, action, details)
               VALUES (NULL, 'operator', $1, 'client_delete', $2)""",
            actor, {"slug": slug, "rows": counts})
    return counts


async def client_export(db: Executor, client_id: UUID) -> dict[str, Any]:
    """The client's own documents: prompts (with history), saved replies, knowledge texts and
    learned answers (settings and branches are read by the caller through `clients`)."""
    prompts = await db.fetch(
        """SELECT name, text, is_active, created_at FROM prompts WHERE client_id = $1
            ORDER BY created_at""", client_id)
    replies = await db.fetch(
        "SELECT name, text, updated_at FROM canned_replies WHERE client_id = $1 ORDER BY name",
        client_id)
    documents = await db.fetch(
        """SELECT doc_name, knowledge_tag, content, updated_at FROM knowledge_documents
            WHERE client_id = $1 ORDER BY doc_name""", client_id)
    learned = await db.fetch(
        """SELECT id, question, answer, knowledge_tag, created_at FROM learned_answers
            WHERE client_id = $1 ORDER BY created_at""", client_id)
    return {"prompts": _plain(prompts), "replies": _plain(replies),
            "documents": _plain(documents), "learned_answers": _plain(learned)}


def _plain(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [{key: _json_value(value) for key, value in dict(row).items()} for row in rows]


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | dict | list):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


# --------------------------------------------------------------------------- one customer


async def customers_by_phone(db: Executor, client_id: UUID, digits: str) -> list[UUID]:
    """The client's customers with this number (the JID's digits or the stored phone)."""
    rows = await db.fetch(
        """SELECT id FROM users
            WHERE client_id = $1 AND (phone = $2 OR split_part(remote_jid, '@', 1) = $2)
            ORDER BY created_at""", client_id, digits)
    return [r["id"] for r in rows]


async def customer_export(db: Executor, user_ids: list[UUID]) -> list[dict[str, Any]]:
    """Everything stored about these customers: who they are, their conversations with every
    message, request (handover), inbound event and audit line."""
    exported = []
    for user in await db.fetch("SELECT * FROM users WHERE id = ANY($1::uuid[])", user_ids):
        conversations = []
        for conv in await db.fetch("SELECT * FROM conversations WHERE user_id = $1", user["id"]):
            conversations.append({
                **_plain([conv])[0],
                "messages": _plain(await db.fetch(
                    """SELECT role, content, created_at, metadata FROM messages
                        WHERE conversation_id = $1 ORDER BY id""", conv["id"])),
                "handovers": _plain(await db.fetch(
                    """SELECT id, status, trigger_type, trigger_value, user_message,
                              manager_response, assigned_to_name, resolution, rating,
                              created_at, taken_at, resolved_at
                         FROM handovers WHERE conversation_id = $1 ORDER BY created_at""",
                    conv["id"])),
                "inbound_events": _plain(await db.fetch(
                    """SELECT provider_message_id, payload, status, received_at
                         FROM inbound_events WHERE conversation_id = $1 ORDER BY id""",
                    conv["id"])),
                "audit": _plain(await db.fetch(
                    """SELECT actor_type, actor_name, action, details, created_at
                         FROM audit_log WHERE conversation_id = $1 ORDER BY id""", conv["id"])),
            })
        exported.append({**_plain([user])[0], "conversations": conversations})
    return exported


@dataclass(slots=True)
class Erased:
    customers: int = 0
    messages: int = 0
    events: int = 0
    deliveries: int = 0
    handovers: int = 0
    telegram_updates: int = 0
    media_urls: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"customers": self.customers, "messages": self.messages, "events": self.events,
                "deliveries": self.deliveries, "handovers": self.handovers,
                "telegram_updates": self.telegram_updates}


async def erase_customers(conn: asyncpg.Connection, client_id: UUID, user_ids: list[UUID],
                          actor: str) -> Erased:
    """One transaction: their messages, inbound events, deliveries and the desk's updates from
    their topics are deleted; their requests stay (the owner's figures count them) without
    their text, an open one closed (`returned_to_bot`); the customer row stays, anonymised (no
    number, no name: a new message from the number starts afresh). An audit line says what
    went, without saying who."""
    erased = Erased(customers=len(user_ids))
    async with conn.transaction():
        conversations = await conn.fetch(
            """SELECT id, telegram_chat_id, telegram_topic_id FROM conversations
                WHERE client_id = $1 AND user_id = ANY($2::uuid[]) FOR UPDATE""",
            client_id, user_ids)
        ids = [c["id"] for c in conversations]
        erased.media_urls = [r["url"] for r in await conn.fetch(
            """SELECT payload->>'url' AS url FROM outbox
                WHERE conversation_id = ANY($1::uuid[]) AND payload ? 'url'""", ids)]
        for conv in conversations:
            if conv["telegram_topic_id"] is not None:
                erased.telegram_updates += _count(await conn.execute(
                    """DELETE FROM telegram_updates
                        WHERE client_id = $1
                          AND payload #>> '{message,chat,id}' = $2
                          AND payload #>> '{message,message_thread_id}' = $3""",
                    client_id, str(conv["telegram_chat_id"]), str(conv["telegram_topic_id"])))
        await conn.execute(
            """UPDATE handovers SET status = 'resolved', resolution = 'returned_to_bot',
                      resolved_at = now()
                WHERE conversation_id = ANY($1::uuid[]) AND status IN ('pending', 'active')""", ids)
        erased.handovers = _count(await conn.execute(
            """UPDATE handovers SET user_message = NULL, manager_response = NULL,
                      trigger_detail = NULL
                WHERE conversation_id = ANY($1::uuid[])""", ids))
        await conn.execute(
            """UPDATE conversations
                  SET state = 'bot_active', telegram_topic_id = NULL, telegram_chat_id = NULL,
                      bot_muted_until = NULL, no_count = 0, pending_notice_at = NULL,
                      language = NULL, rating_handover_id = NULL, rating_due_until = NULL,
                      updated_at = now()
                WHERE id = ANY($1::uuid[])""", ids)
        erased.messages = _count(await conn.execute(
            "DELETE FROM messages WHERE conversation_id = ANY($1::uuid[])", ids))
        erased.events = _count(await conn.execute(
            "DELETE FROM inbound_events WHERE conversation_id = ANY($1::uuid[])", ids))
        erased.deliveries = _count(await conn.execute(
            "DELETE FROM outbox WHERE conversation_id = ANY($1::uuid[])", ids))
        await conn.execute("DELETE FROM turn_queue WHERE conversation_id = ANY($1::uuid[])", ids)
        for user_id in user_ids:
            await conn.execute(
                """UPDATE users SET remote_jid = $2, phone = NULL, name = NULL, metadata = '{}'
                    WHERE id = $1""", user_id, _anonymous_jid())
        for conversation_id in ids or [None]:
            await conn.execute(
                """INSERT INTO audit_log (client_id, actor_type, actor_id, action,
                                          conversation_id, details)
                   VALUES ($1, 'operator', $2, 'customer_erase', $3, $4)""",
                client_id, actor, conversation_id, erased.counts())
    return erased


def _anonymous_jid() -> str:
    """A JID no WhatsApp number has (numbers never start with 0), unique in practice."""
    return f"0{secrets.randbelow(10**19):019d}@lid"


def _count(status: str) -> int:
    return int(status.split()[-1])


# --------------------------------------------------------------------------- retention


async def prune_messages(db: Executor, default_days: int, *, batch: int = PRUNE_BATCH
                         ) -> tuple[int, int]:
    """Delete messages, and handled inbound events, older than each client's retention
    (`message_retention_days`, else `default_days`; 0 keeps everything). Batches of `batch`
    rows, so no transaction grows with the backlog. Returns (messages, events) deleted."""
    messages = await _delete_in_batches(
        db, """DELETE FROM messages WHERE id IN (
                   SELECT m.id FROM messages m
                     JOIN conversations c ON c.id = m.conversation_id
                     JOIN client_settings s ON s.client_id = c.client_id
                    WHERE coalesce(s.message_retention_days, $1) > 0
                      AND m.created_at < now() - make_interval(
                              days => coalesce(s.message_retention_days, $1))
                    LIMIT $2)""", default_days, batch)
    events = await _delete_in_batches(
        db, """DELETE FROM inbound_events WHERE id IN (
                   SELECT e.id FROM inbound_events e
                     JOIN client_settings s ON s.client_id = e.client_id
                    WHERE e.status IN ('done', 'failed', 'ignored')
                      AND coalesce(s.message_retention_days, $1) > 0
                      AND e.received_at < now() - make_interval(
                              days => coalesce(s.message_retention_days, $1))
                    LIMIT $2)""", default_days, batch)
    return messages, events


async def _delete_in_batches(db: Executor, sql: str, default_days: int, batch: int) -> int:
    """Run a `DELETE … LIMIT $2` until it deletes fewer than `batch` rows; how many in all."""
    total = 0
    while True:
        deleted = _count(await db.execute(sql, default_days, batch))
        total += deleted
        if deleted < batch:
            return total
