"""Queue housekeeping: rows stuck in 'processing' past their lease go back to their queue, and old
delivered outbox rows are pruned. (Telegram's de-duplication rows are the Telegram desk's own:
its update sweeper prunes the handled ones, `storage/repositories/telegram.py`.)

Each statement is one conditional UPDATE/DELETE: two sweepers (or a sweeper and a worker claiming
the same row) serialise on the row lock and the second no longer matches, so a stuck row is
re-queued exactly once."""

from __future__ import annotations

from datetime import timedelta

import asyncpg


async def requeue_stuck_inbound(db: asyncpg.Connection | asyncpg.Pool, *, max_attempts: int
                                ) -> list[asyncpg.Record]:
    """Inbound events whose lease ran out go back to 'queued'; those already claimed
    `max_attempts` times (a turn that keeps dying) become 'failed'. Returns (id, status,
    conversation_id, attempts) of each row changed."""
    return await db.fetch(
        """UPDATE inbound_events
              SET status = CASE WHEN attempts >= $1 THEN 'failed' ELSE 'queued' END,
                  locked_until = NULL,
                  last_error = CASE WHEN attempts >= $1
                               THEN coalesce(last_error || '; ', '') || 'lease expired, attempts exhausted'
                               ELSE last_error END
            WHERE status = 'processing' AND locked_until < now()
        RETURNING id, status, conversation_id, attempts""",
        max_attempts,
    )


async def requeue_stuck_outbox(db: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    """Outbox rows whose lease ran out go back to 'pending', due now. Their attempt count stays, so
    the delivery worker's own limit still ends a row that keeps failing (with its alert)."""
    return await db.fetch(
        """UPDATE outbox
              SET status = 'pending', locked_until = NULL, next_attempt_at = now()
            WHERE status = 'processing' AND locked_until < now()
        RETURNING id, channel, kind, conversation_id, attempts"""
    )


async def prune_sent_outbox(db: asyncpg.Connection | asyncpg.Pool, *, older_than: timedelta) -> int:
    """Delivered rows only: failed ones stay for the operator."""
    result = await db.execute(
        "DELETE FROM outbox WHERE status = 'sent' AND sent_at < now() - $1::interval", older_than
    )
    return int(result.split()[-1])
