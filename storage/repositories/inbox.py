"""The durable inbox: inbound events stored before they are acknowledged, then claimed one
conversation turn at a time, in arrival order, after the debounce window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from core.ports import LostClaim

NOTIFY_CHANNEL = "truffles_inbox"


@dataclass(frozen=True, slots=True)
class InboundEvent:
    id: int
    client_id: UUID
    conversation_id: UUID
    branch_id: UUID | None
    provider_message_id: str
    payload: dict[str, Any]
    attempts: int
    received_at: datetime


def _event(row: asyncpg.Record) -> InboundEvent:
    return InboundEvent(
        id=row["id"], client_id=row["client_id"], conversation_id=row["conversation_id"],
        branch_id=row["branch_id"], provider_message_id=row["provider_message_id"],
        payload=row["payload"], attempts=row["attempts"], received_at=row["received_at"],
    )


async def store(conn: asyncpg.Connection, *, client_id: UUID, channel: str, provider_message_id: str,
                conversation_id: UUID, branch_id: UUID | None, payload: dict[str, Any]) -> int | None:
    """The new event's id, or None for a duplicate of (client, channel, provider id)."""
    event_id = await conn.fetchval(
        """INSERT INTO inbound_events (client_id, channel, provider_message_id, conversation_id,
                                       branch_id, payload)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (client_id, channel, provider_message_id) DO NOTHING RETURNING id""",
        client_id, channel, provider_message_id, conversation_id, branch_id, payload,
    )
    if event_id is not None:
        await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(conversation_id))
    return event_id


_READY = """
    SELECT e.conversation_id, min(e.id) AS first_id
      FROM inbound_events e
      JOIN client_settings s ON s.client_id = e.client_id
     WHERE (e.status = 'queued' OR (e.status = 'processing' AND e.locked_until < now()))
       AND NOT EXISTS (
           SELECT 1 FROM inbound_events p
            WHERE p.conversation_id = e.conversation_id AND p.status = 'processing'
              AND p.locked_until >= now())
     GROUP BY e.conversation_id, s.debounce_seconds
    HAVING max(e.received_at) <= now() - make_interval(secs => s.debounce_seconds::float8)
        OR min(e.received_at) <= now() - make_interval(secs => $1::float8)
"""

_TURN_IN_PROGRESS = """
    SELECT EXISTS (SELECT 1 FROM inbound_events
                    WHERE conversation_id = $1 AND status = 'processing' AND locked_until >= now())
"""


async def claim_turn(pool: asyncpg.Pool, *, lease: timedelta, max_wait: float
                     ) -> tuple[UUID, list[InboundEvent]] | None:
    """Lease the waiting events of one conversation that is ready (quiet for its debounce window,
    or waiting longer than `max_wait` seconds in all) and has no turn in progress.

    The conversation row lock serialises claimers; the in-progress check is repeated after
    taking it because the first statement's snapshot may predate another worker's claim that
    committed just before the lock was free."""
    async with pool.acquire() as conn, conn.transaction():
        conversation_id = await conn.fetchval(
            f"""WITH ready AS ({_READY})
                SELECT c.id FROM conversations c JOIN ready r ON r.conversation_id = c.id
                 ORDER BY r.first_id
                 LIMIT 1
                 FOR UPDATE OF c SKIP LOCKED""",
            max_wait,
        )
        if conversation_id is None or await conn.fetchval(_TURN_IN_PROGRESS, conversation_id):
            return None
        rows = await conn.fetch(
            """UPDATE inbound_events SET status = 'processing', attempts = attempts + 1,
                                         locked_until = now() + $2
                WHERE conversation_id = $1
                  AND (status = 'queued' OR (status = 'processing' AND locked_until < now()))
            RETURNING *""",
            conversation_id, lease,
        )
    if not rows:
        return None
    return conversation_id, sorted((_event(r) for r in rows), key=lambda e: e.id)


async def seconds_until_ready(pool: asyncpg.Pool, *, max_wait: float) -> float | None:
    """When the next waiting conversation becomes ready (0 when one is), None when none waits."""
    return await pool.fetchval(
        """SELECT greatest(0, extract(epoch FROM min(least(
                      last_at + make_interval(secs => debounce::float8),
                      first_at + make_interval(secs => $1::float8))) - now()))::float8
             FROM (SELECT max(e.received_at) AS last_at, min(e.received_at) AS first_at,
                          s.debounce_seconds AS debounce
                     FROM inbound_events e JOIN client_settings s ON s.client_id = e.client_id
                    WHERE e.status = 'queued'
                    GROUP BY e.conversation_id, s.debounce_seconds) w""",
        max_wait,
    )


class InboxRepo:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def mark_done(self, claims: Sequence[tuple[int, int]]) -> None:
        """The attempt number is the fencing token: a worker whose lease ran out and whose events
        were claimed again (attempts incremented) cannot complete them."""
        ids = [event_id for event_id, _ in claims]
        attempts = [attempt for _, attempt in claims]
        done = await self._conn.fetchval(
            """WITH claimed AS (SELECT * FROM unnest($1::bigint[], $2::int[]) AS c(id, attempts)),
                    updated AS (
                        UPDATE inbound_events e
                           SET status = 'done', processed_at = now(), locked_until = NULL
                          FROM claimed
                         WHERE e.id = claimed.id AND e.attempts = claimed.attempts
                           AND e.status = 'processing'
                        RETURNING 1)
               SELECT count(*) FROM updated""",
            ids, attempts,
        )
        if done != len(claims):
            raise LostClaim(f"{len(claims) - done} of {len(claims)} events were claimed again")


async def release(pool: asyncpg.Pool, claims: Sequence[tuple[int, int]], error: str, *,
                  max_attempts: int, retry_in: timedelta) -> None:
    """A turn failed: its events (still as claimed: same attempt) go back to the queue after
    `retry_in`, or to `failed` once they have been tried `max_attempts` times."""
    await pool.execute(
        """WITH claimed AS (SELECT * FROM unnest($1::bigint[], $2::int[]) AS c(id, attempts))
           UPDATE inbound_events e
              SET status = CASE WHEN e.attempts >= $4 THEN 'failed' ELSE 'processing' END,
                  locked_until = CASE WHEN e.attempts >= $4 THEN NULL ELSE now() + $5 END,
                  last_error = $3
             FROM claimed
            WHERE e.id = claimed.id AND e.attempts = claimed.attempts AND e.status = 'processing'""",
        [i for i, _ in claims], [a for _, a in claims], error[:2000], max_attempts, retry_in,
    )
