"""Pending handovers that may be due a reminder or auto-close, and the atomic reminder claims.

A claim is a conditional UPDATE that only one transaction can win (the row lock serialises them,
the loser re-reads the row and no longer matches): run it in the transaction that writes the
reminder's outbox row, and a reminder is sent once however many schedulers race or crash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from core.models import Handover
from core.reminders import Due
from storage.repositories.handovers import handover_from_row


@dataclass(frozen=True, slots=True)
class WaitingHandover:
    handover: Handover
    has_topic: bool  # reminders are replies in the customer's topic: none without one


async def waiting(db: asyncpg.Connection | asyncpg.Pool, *, limit: int = 500
                  ) -> tuple[datetime, list[WaitingHandover]]:
    """The database's `now()` and the pending handovers that are due something now (oldest
    first): a reminder (reminders on, and a topic to post it in) or an auto-close (regardless of
    the topic). Only what can be acted on is taken, so handovers that must wait (no topic yet,
    reminder 2 not due yet) never fill the batch and starve the ones behind them."""
    rows = await db.fetch(
        """SELECT h.*, c.telegram_topic_id IS NOT NULL AS has_topic, now() AS db_now
             FROM handovers h
             JOIN conversations c ON c.id = h.conversation_id
             JOIN client_settings s ON s.client_id = h.client_id
            WHERE h.status = 'pending'
              AND ((s.auto_close_timeout IS NOT NULL
                    AND h.created_at <= now() - make_interval(mins => s.auto_close_timeout))
                   OR (s.enable_reminders AND c.telegram_topic_id IS NOT NULL
                       AND ((h.reminder_1_sent_at IS NULL
                             AND h.created_at <= now() - make_interval(mins => s.reminder_timeout_1))
                            OR (h.reminder_1_sent_at IS NOT NULL AND h.reminder_2_sent_at IS NULL
                                AND h.created_at
                                    <= now() - make_interval(mins => s.reminder_timeout_2)))))
            ORDER BY h.created_at
            LIMIT $1""",
        limit,
    )
    now = rows[0]["db_now"] if rows else await db.fetchval("SELECT now()")
    return now, [WaitingHandover(handover_from_row(r), r["has_topic"]) for r in rows]


_CLAIMS = {
    Due.REMINDER_1: """UPDATE handovers SET reminder_1_sent_at = now()
                        WHERE id = $1 AND status = 'pending' AND reminder_1_sent_at IS NULL
                    RETURNING *""",
    Due.REMINDER_2: """UPDATE handovers SET reminder_2_sent_at = now()
                        WHERE id = $1 AND status = 'pending' AND reminder_1_sent_at IS NOT NULL
                          AND reminder_2_sent_at IS NULL
                    RETURNING *""",
}


async def claim(conn: asyncpg.Connection, handover_id: UUID, step: Due) -> Handover | None:
    """Mark the reminder sent; None when another run got it first or the handover moved on."""
    row = await conn.fetchrow(_CLAIMS[step], handover_id)
    return handover_from_row(row) if row else None
