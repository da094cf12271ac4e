"""The manager desk's own SQL (`DeskRecords`): topics of conversations, request cards, where a
button may come from, finding customers, saved replies, the owner's figures (`reports.py`); and
the log of received Telegram updates (`UpdateLog`)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from core.customers import CustomerMatch, CustomerQuery
from core.models import Conversation, Handover, HistoryLine, State
from core.outbound import CardRepost, OutboundMessage
from core.ports import AuditEntry, CardContext, ClaimedUpdate
from core.reports import ReportFigures
from storage.repositories import replies, reports
from storage.repositories.audit import AuditRepo
from storage.repositories.conversations import ConversationsRepo, MessagesRepo, conversation_from_row
from storage.repositories.handovers import HandoversRepo
from storage.repositories.outbox import OutboxRepo
from storage.retry import record


class PgDeskRecords:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def handover(self, handover_id: UUID) -> Handover | None:
        async with self._pool.acquire() as conn:
            return await HandoversRepo(conn).get(handover_id)

    async def conversation(self, conversation_id: UUID) -> Conversation | None:
        async with self._pool.acquire() as conn:
            return await ConversationsRepo(conn).get(conversation_id)

    async def history(self, conversation_id: UUID, limit: int) -> list[HistoryLine]:
        async with self._pool.acquire() as conn:
            return await MessagesRepo(conn).history(conversation_id, limit)

    async def card_context(self, handover_id: UUID) -> CardContext | None:
        async with self._pool.acquire() as conn:
            handover = await HandoversRepo(conn).get(handover_id)
            if handover is None:
                return None
            conversation = await ConversationsRepo(conn).get(handover.conversation_id)
            assert conversation is not None  # a handover's conversation is deleted with it
            name, phone = await _customer_label(conn, conversation.id)
            return CardContext(handover, conversation, name, phone,
                               await _group_chat_id(conn, conversation.id))

    async def group_chat_id(self, conversation_id: UUID) -> int | None:
        return await _group_chat_id(self._pool, conversation_id)

    async def customer_label(self, conversation_id: UUID) -> tuple[str | None, str | None]:
        return await _customer_label(self._pool, conversation_id)

    async def conversation_by_topic(self, client_id: UUID, chat_id: int,
                                    topic_id: int) -> Conversation | None:
        row = await self._pool.fetchrow(
            """SELECT * FROM conversations
                WHERE client_id = $1 AND telegram_chat_id = $2 AND telegram_topic_id = $3
                ORDER BY updated_at DESC LIMIT 1""",
            client_id, chat_id, topic_id,
        )
        return conversation_from_row(row) if row else None

    async def handover_chat(self, handover_id: UUID) -> tuple[UUID, int | None] | None:
        row = await self._pool.fetchrow(
            """SELECT h.client_id, c.telegram_chat_id FROM handovers h
                 JOIN conversations c ON c.id = h.conversation_id WHERE h.id = $1""",
            handover_id,
        )
        return (row["client_id"], row["telegram_chat_id"]) if row else None

    async def set_topic(self, conversation_id: UUID, chat_id: int, topic_id: int, *,
                        repost_card: bool) -> None:
        """Retried through a database blip: the topic exists in Telegram already."""
        await record(lambda: self._set_topic(conversation_id, chat_id, topic_id,
                                             repost_card=repost_card), what="telegram topic")

    async def _set_topic(self, conversation_id: UUID, chat_id: int, topic_id: int, *,
                         repost_card: bool) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            client_id = await conn.fetchval(
                """UPDATE conversations SET telegram_chat_id = $2, telegram_topic_id = $3,
                                            updated_at = now()
                    WHERE id = $1 RETURNING client_id""",
                conversation_id, chat_id, topic_id,
            )
            if not repost_card or client_id is None:
                return
            handover = await HandoversRepo(conn).open_for(conversation_id)
            if handover is None or handover.telegram_message_id is None:
                return  # no request, or its card is not sent yet (it will go to the new topic)
            await OutboxRepo(conn).enqueue(client_id, CardRepost(
                conversation_id, handover.id, topic_id, handover.telegram_message_id),
                f"card_repost:{handover.id}:{topic_id}")

    async def set_card_message(self, handover_id: UUID, message_id: int) -> None:
        """Retried through a database blip: a lost write would post a second card."""
        await record(lambda: self._set_card_message(handover_id, message_id),
                     what="telegram card")

    async def _set_card_message(self, handover_id: UUID, message_id: int) -> None:
        await self._pool.execute("UPDATE handovers SET telegram_message_id = $2 WHERE id = $1",
                                 handover_id, message_id)

    async def ensure_webhook_secret(self, client_id: UUID) -> str:
        """The client's Telegram webhook secret, generated and stored on first use."""
        return await self._pool.fetchval(
            """UPDATE client_settings
                  SET telegram_webhook_secret = coalesce(telegram_webhook_secret, $2)
                WHERE client_id = $1 RETURNING telegram_webhook_secret""",
            client_id, secrets.token_urlsafe(32),
        )

    async def knowledge_tag(self, conversation_id: UUID) -> str | None:
        return await self._pool.fetchval(
            "SELECT b.knowledge_tag FROM conversations c JOIN branches b ON b.id = c.branch_id "
            "WHERE c.id = $1", conversation_id,
        )

    async def learned_before(self, handover_id: UUID) -> bool:
        return bool(await self._pool.fetchval(
            "SELECT true FROM audit_log WHERE handover_id = $1 AND action = 'learn' LIMIT 1",
            handover_id,
        ))

    async def record(self, client_id: UUID, *, audit: AuditEntry | None = None,
                     message: OutboundMessage | None = None, key: str | None = None) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            if audit is not None:
                await AuditRepo(conn).record(client_id, audit)
            if message is not None:
                assert key is not None, "a delivery needs its idempotency key"
                await OutboxRepo(conn).enqueue(client_id, message, key)


    async def is_desk_group(self, client_id: UUID, chat_id: int) -> bool:
        return bool(await self._pool.fetchval(
            """SELECT EXISTS (SELECT 1 FROM client_settings
                               WHERE client_id = $1 AND telegram_chat_id = $2)
                   OR EXISTS (SELECT 1 FROM branches
                               WHERE client_id = $1 AND telegram_chat_id = $2)""",
            client_id, chat_id))

    async def find_customers(self, client_id: UUID, chat_id: int, query: CustomerQuery,
                             limit: int) -> list[CustomerMatch]:
        rows = await self._pool.fetch(
            """SELECT c.id, u.name, u.phone, c.state, c.last_message_at
                 FROM conversations c
                 JOIN users u ON u.id = c.user_id
                 JOIN client_settings s ON s.client_id = c.client_id
                 LEFT JOIN branches b ON b.id = c.branch_id
                WHERE c.client_id = $1 AND c.channel = 'whatsapp'
                  AND coalesce(b.telegram_chat_id, s.telegram_chat_id) = $2
                  AND (($3::text IS NOT NULL AND u.phone LIKE '%' || $3 || '%')
                       OR ($4::text IS NOT NULL AND u.name ILIKE '%' || $4 || '%' ESCAPE '\\'))
                ORDER BY c.last_message_at DESC NULLS LAST
                LIMIT $5""",
            client_id, chat_id, query.phone_digits, _like_escaped(query.name), limit)
        return [CustomerMatch(r["id"], r["name"], r["phone"], State(r["state"]),
                              r["last_message_at"]) for r in rows]

    async def canned_replies(self, client_id: UUID) -> dict[str, str]:
        return {row["name"]: row["text"] for row in await replies.list_all(self._pool, client_id)}

    async def figures(self, client_id: UUID, start: datetime, end: datetime) -> ReportFigures:
        return await reports.figures(self._pool, client_id, start, end)


def _like_escaped(text: str | None) -> str | None:
    """A piece of text matched literally inside LIKE (its % and _ are not wildcards)."""
    if text is None:
        return None
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _group_chat_id(db: asyncpg.Connection | asyncpg.Pool, conversation_id: UUID) -> int | None:
    return await db.fetchval(
        """SELECT coalesce(b.telegram_chat_id, s.telegram_chat_id)
             FROM conversations c
             JOIN client_settings s ON s.client_id = c.client_id
             LEFT JOIN branches b ON b.id = c.branch_id
            WHERE c.id = $1""",
        conversation_id,
    )


async def _customer_label(db: asyncpg.Connection | asyncpg.Pool,
                          conversation_id: UUID) -> tuple[str | None, str | None]:
    row = await db.fetchrow(
        """SELECT u.name, u.phone FROM conversations c JOIN users u ON u.id = c.user_id
            WHERE c.id = $1""",
        conversation_id,
    )
    return (row["name"], row["phone"]) if row else (None, None)


class PgUpdateLog:
    """Telegram updates, stored (de-duplicated on `update_id`) before they are handled."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def remember(self, client_id: UUID, update_id: int, payload: dict[str, Any]) -> bool:
        inserted = await self._pool.fetchval(
            """INSERT INTO telegram_updates (client_id, update_id, payload) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING true""",
            client_id, update_id, payload,
        )
        return bool(inserted)

    async def mark_processed(self, client_id: UUID, update_id: int) -> None:
        await self._pool.execute(
            """UPDATE telegram_updates SET processed_at = now(), payload = NULL
                WHERE client_id = $1 AND update_id = $2""",
            client_id, update_id,
        )

    async def claim(self, client_id: UUID, update_id: int, lease: timedelta) -> int | None:
        return await self._pool.fetchval(
            """UPDATE telegram_updates
                  SET claimed_until = now() + $3::interval, attempts = attempts + 1
                WHERE client_id = $1 AND update_id = $2 AND processed_at IS NULL
                  AND (claimed_until IS NULL OR claimed_until < now())
               RETURNING attempts""",
            client_id, update_id, lease,
        )

    async def renew(self, client_id: UUID, update_id: int, attempt: int,
                    lease: timedelta) -> bool:
        renewed = await self._pool.fetchval(
            """UPDATE telegram_updates SET claimed_until = now() + $4::interval
                WHERE client_id = $1 AND update_id = $2 AND attempts = $3
                  AND processed_at IS NULL
               RETURNING true""",
            client_id, update_id, attempt, lease,
        )
        return bool(renewed)

    async def claim_stale(self, older_than: timedelta, lease: timedelta,
                          limit: int = 100) -> list[ClaimedUpdate]:
        """Updates whose handling never finished: never started for `older_than`, or whose
        lease ran out (the handler died, or failed and left it for a retry)."""
        rows = await self._pool.fetch(
            """WITH stale AS (
                   SELECT client_id, update_id FROM telegram_updates
                    WHERE processed_at IS NULL AND payload IS NOT NULL
                      AND (claimed_until < now()
                           OR (claimed_until IS NULL AND received_at < now() - $1::interval))
                    ORDER BY received_at, update_id LIMIT $2 FOR UPDATE SKIP LOCKED)
               UPDATE telegram_updates t
                  SET claimed_until = now() + $3::interval, attempts = t.attempts + 1
                 FROM stale WHERE t.client_id = stale.client_id AND t.update_id = stale.update_id
               RETURNING t.client_id, t.update_id, t.payload, t.attempts""",
            older_than, limit, lease,
        )
        rows = sorted(rows, key=lambda r: (str(r["client_id"]), r["update_id"]))
        return [ClaimedUpdate(r["client_id"], r["payload"], r["attempts"]) for r in rows]

    async def prune(self, older_than: timedelta) -> int:
        """Forget handled updates once Telegram can no longer resend them."""
        result = await self._pool.execute(
            """DELETE FROM telegram_updates
                WHERE processed_at IS NOT NULL AND received_at < now() - $1::interval""",
            older_than,
        )
        return int(result.split()[-1])
