"""The outbox: outbound deliveries, claimed with leases so that several workers and replicas never
deliver one row twice at the same time, and a crash only delays a row."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg

from core.delivery import Delivery
from core.outbound import OutboundMessage, UndecodableMessage, decode, encode

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "truffles_outbox"


def _delivery(row: asyncpg.Record) -> Delivery:
    return Delivery(
        id=row["id"], client_id=row["client_id"], conversation_id=row["conversation_id"],
        channel=row["channel"], kind=row["kind"],
        message=decode(row["channel"], row["kind"], row["payload"]),
        idempotency_key=row["idempotency_key"], attempts=row["attempts"],
        max_attempts=row["max_attempts"], progress=row["result"],
    )


class OutboxRepo:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def enqueue(self, client_id: UUID, message: OutboundMessage, key: str, *,
                      max_attempts: int = 8) -> bool:
        """False when a row with this idempotency key exists already (nothing is written)."""
        channel, kind, payload = encode(message)
        row_id = await self._conn.fetchval(
            """INSERT INTO outbox (client_id, conversation_id, channel, kind, payload,
                                   idempotency_key, max_attempts)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
            client_id, message.conversation_id, channel, kind, payload, key, max_attempts,
        )
        if row_id is not None:
            await self._conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, channel)
        return row_id is not None


async def claim_due(pool: asyncpg.Pool, *, limit: int, lease: timedelta,
                    channels: tuple[str, ...] | None = None) -> list[Delivery]:
    """Due rows, oldest first, leased to the caller. A row whose lease ran out (its worker died) is
    due again. Rows of one conversation and channel go out in order: a row waits while an older
    one of the same conversation and channel is still pending."""
    rows = await pool.fetch(
        """WITH due AS (
               SELECT o.id FROM outbox o
                WHERE ((o.status = 'pending' AND o.next_attempt_at <= now())
                       OR (o.status = 'processing' AND o.locked_until < now()))
                  AND ($3::text[] IS NULL OR o.channel = ANY($3))
                  AND NOT EXISTS (
                      SELECT 1 FROM outbox older
                       WHERE older.conversation_id = o.conversation_id
                         AND older.channel = o.channel
                         AND older.id < o.id
                         AND older.status IN ('pending', 'processing'))
                ORDER BY o.id
                LIMIT $1
                FOR UPDATE SKIP LOCKED)
           UPDATE outbox o SET status = 'processing', attempts = o.attempts + 1,
                               locked_until = now() + $2
             FROM due WHERE o.id = due.id
           RETURNING o.*""",
        limit, lease, list(channels) if channels else None,
    )
    deliveries = []
    for row in sorted(rows, key=lambda r: r["id"]):
        try:
            deliveries.append(_delivery(row))
        except UndecodableMessage as exc:  # written by a newer version, or by hand
            log.error("outbox row cannot be read; marked failed",
                      extra={"delivery": row["id"], "error": str(exc)})
            await mark_failed(pool, row["id"], f"cannot be read: {exc}")
    return deliveries


async def mark_sent(pool: asyncpg.Pool, delivery_id: int, result: dict[str, Any] | None) -> None:
    await pool.execute(
        """UPDATE outbox SET status = 'sent', sent_at = now(), locked_until = NULL, result = $2,
                             last_error = NULL
            WHERE id = $1""",
        delivery_id, result,
    )


async def record_progress(pool: asyncpg.Pool, delivery_id: int, progress: dict[str, Any]) -> None:
    """Note, in a row still being delivered, what is done already (kept in `result` until the
    row is sent; the next attempt gets it as `Delivery.progress` and resumes from there)."""
    await pool.execute("UPDATE outbox SET result = $2 WHERE id = $1 AND status = 'processing'",
                       delivery_id, progress)


async def mark_retry(pool: asyncpg.Pool, delivery_id: int, error: str, delay: timedelta, *,
                     refund_attempt: bool = False) -> None:
    """Back to pending, due after `delay`. `refund_attempt` gives back the attempt the claim
    counted (a deferral that sent nothing and failed nothing)."""
    await pool.execute(
        """UPDATE outbox SET status = 'pending', locked_until = NULL, last_error = $2,
                             next_attempt_at = now() + $3,
                             attempts = CASE WHEN $4 THEN greatest(attempts - 1, 0) ELSE attempts END
            WHERE id = $1""",
        delivery_id, error[:2000], delay, refund_attempt,
    )


async def mark_failed(conn: asyncpg.Connection | asyncpg.Pool, delivery_id: int, error: str) -> None:
    await conn.execute(
        "UPDATE outbox SET status = 'failed', locked_until = NULL, last_error = $2 WHERE id = $1",
        delivery_id, error[:2000],
    )


async def next_due_in(pool: asyncpg.Pool) -> float | None:
    """Seconds until the next pending row is due (None when there is none)."""
    return await pool.fetchval(
        """SELECT greatest(0, extract(epoch FROM min(next_attempt_at) - now()))::float8
             FROM outbox WHERE status = 'pending'"""
    )
