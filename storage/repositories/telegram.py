"""The manager desk's own SQL: topics of conversations, request cards, received Telegram updates."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg

from core.models import Conversation, Handover
from storage.repositories.conversations import ConversationsRepo, _conversation
from storage.repositories.handovers import HandoversRepo

Executor = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class CardContext:
    """Everything a request card shows, and where it goes."""

    handover: Handover
    conversation: Conversation
    customer_name: str | None
    phone: str | None
    group_chat_id: int | None  # the branch's group, else the client's


async def card_context(db: Executor, handover_id: UUID) -> CardContext | None:
    handover = await HandoversRepo(db).get(handover_id)
    if handover is None:
        return None
    conversation = await ConversationsRepo(db).get(handover.conversation_id)
    assert conversation is not None  # a handover's conversation is deleted with it
    name, phone = await customer_label(db, conversation.id)
    return CardContext(handover, conversation, name, phone,
                       await group_chat_id(db, conversation.id))


async def handover_by_id(db: Executor, handover_id: UUID) -> Handover | None:
    return await HandoversRepo(db).get(handover_id)


async def conversation_by_id(db: Executor, conversation_id: UUID) -> Conversation | None:
    return await ConversationsRepo(db).get(conversation_id)


async def group_chat_id(db: Executor, conversation_id: UUID) -> int | None:
    """The forum group a conversation's topic belongs in: the branch's, else the client's."""
    return await db.fetchval(
        """SELECT coalesce(b.telegram_chat_id, s.telegram_chat_id)
             FROM conversations c
             JOIN client_settings s ON s.client_id = c.client_id
             LEFT JOIN branches b ON b.id = c.branch_id
            WHERE c.id = $1""",
        conversation_id,
    )


async def customer_label(db: Executor, conversation_id: UUID) -> tuple[str | None, str | None]:
    row = await db.fetchrow(
        """SELECT u.name, u.phone FROM conversations c JOIN users u ON u.id = c.user_id
            WHERE c.id = $1""",
        conversation_id,
    )
    return (row["name"], row["phone"]) if row else (None, None)


async def conversation_by_topic(db: Executor, client_id: UUID, chat_id: int,
                                topic_id: int) -> Conversation | None:
    row = await db.fetchrow(
        """SELECT * FROM conversations
            WHERE client_id = $1 AND telegram_chat_id = $2 AND telegram_topic_id = $3
            ORDER BY updated_at DESC LIMIT 1""",
        client_id, chat_id, topic_id,
    )
    return _conversation(row) if row else None


async def set_topic(db: Executor, conversation_id: UUID, chat_id: int, topic_id: int) -> None:
    await db.execute(
        """UPDATE conversations SET telegram_chat_id = $2, telegram_topic_id = $3, updated_at = now()
            WHERE id = $1""",
        conversation_id, chat_id, topic_id,
    )


async def set_card_message(db: Executor, handover_id: UUID, message_id: int) -> None:
    await db.execute("UPDATE handovers SET telegram_message_id = $2 WHERE id = $1",
                     handover_id, message_id)


async def handover_chat(db: Executor, handover_id: UUID) -> tuple[UUID, int | None] | None:
    """(client id, the group chat of its topic) of a handover, to check where a button came from."""
    row = await db.fetchrow(
        """SELECT h.client_id, c.telegram_chat_id FROM handovers h
             JOIN conversations c ON c.id = h.conversation_id WHERE h.id = $1""",
        handover_id,
    )
    return (row["client_id"], row["telegram_chat_id"]) if row else None


async def ensure_webhook_secret(db: Executor, client_id: UUID) -> str:
    """The client's Telegram webhook secret, generated and stored on first use."""
    candidate = secrets.token_urlsafe(32)
    return await db.fetchval(
        """UPDATE client_settings
              SET telegram_webhook_secret = coalesce(telegram_webhook_secret, $2)
            WHERE client_id = $1 RETURNING telegram_webhook_secret""",
        client_id, candidate,
    )


async def remember_update(db: Executor, client_id: UUID, update_id: int,
                          payload: dict[str, Any]) -> bool:
    """Store a received update; False when it was received before (a duplicate)."""
    inserted = await db.fetchval(
        """INSERT INTO telegram_updates (client_id, update_id, payload) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING RETURNING true""",
        client_id, update_id, payload,
    )
    return bool(inserted)


async def mark_update_processed(db: Executor, client_id: UUID, update_id: int) -> None:
    await db.execute(
        """UPDATE telegram_updates SET processed_at = now(), payload = NULL
            WHERE client_id = $1 AND update_id = $2""",
        client_id, update_id,
    )


async def claim_update(db: Executor, client_id: UUID, update_id: int,
                       lease: timedelta) -> int | None:
    """Start handling a stored update: leased to the caller for `lease`; the attempt's number, or
    None when it is handled already or someone else holds a live lease on it."""
    return await db.fetchval(
        """UPDATE telegram_updates
              SET claimed_until = now() + $3::interval, attempts = attempts + 1
            WHERE client_id = $1 AND update_id = $2 AND processed_at IS NULL
              AND (claimed_until IS NULL OR claimed_until < now())
           RETURNING attempts""",
        client_id, update_id, lease,
    )


@dataclass(frozen=True, slots=True)
class ClaimedUpdate:
    client_id: UUID
    payload: dict[str, Any]
    attempt: int


async def claim_stale_updates(db: Executor, older_than: timedelta, lease: timedelta,
                              limit: int = 100) -> list[ClaimedUpdate]:
    """Updates whose handling never finished: never started for `older_than`, or whose lease
    ran out (the handler died, or failed and left it for a retry). Leased to the caller."""
    rows = await db.fetch(
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


async def prune_updates(db: Executor, older_than: timedelta) -> int:
    """Forget handled updates once Telegram can no longer resend them."""
    result = await db.execute(
        """DELETE FROM telegram_updates
            WHERE processed_at IS NOT NULL AND received_at < now() - $1::interval""",
        older_than,
    )
    return int(result.split()[-1])


async def learned_before(db: Executor, handover_id: UUID) -> bool:
    return bool(await db.fetchval(
        "SELECT true FROM audit_log WHERE handover_id = $1 AND action = 'learn' LIMIT 1",
        handover_id,
    ))
