"""The scheduler's queries over every tenant (`Maintenance`): handovers due a reminder or an
auto-close, conversations that break an invariant (for the self-heal), queue housekeeping
(the queues recover stuck rows by themselves through their leases: what is left is putting back
events written around the turn queue, and pruning delivered rows), and the claim of an owner's
daily report (`reports.py`). Telegram's de-duplication rows are the desk's own
(`PgUpdateLog.prune`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from core.outbound import OutboundMessage
from core.ports import WaitingHandover
from core.reports import DailyReport, ReportFigures
from storage.repositories import inbox, lifecycle, reports
from storage.repositories.handovers import handover_from_row


class PgMaintenance:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def now(self) -> datetime:
        return await self._pool.fetchval("SELECT now()")

    async def waiting_handovers(self, limit: int, now: datetime | None = None
                                ) -> tuple[datetime, list[WaitingHandover]]:
        """The clock's now (the database's `now()`, unless `now` is given) and the pending
        handovers that may be due something then (oldest first): a reminder (reminders on, and
        a topic to post it in) or an auto-close (regardless of the topic). Only what can be acted
        on is taken, so handovers that must wait (no topic yet, reminder 2 not due yet) never
        fill the batch and starve the ones behind them. The ages here are wall-clock: with
        working hours (counted by the caller) a request may have waited long enough on the
        clock and not yet in working time."""
        rows = await self._pool.fetch(
            """WITH clock AS (SELECT coalesce($2::timestamptz, now()) AS now)
               SELECT h.*, c.telegram_topic_id IS NOT NULL AS has_topic, c.branch_id AS branch_id,
                      clock.now AS clock_now
                 FROM clock, handovers h
                 JOIN conversations c ON c.id = h.conversation_id
                 JOIN client_settings s ON s.client_id = h.client_id
                WHERE h.status = 'pending'
                  AND ((s.auto_close_timeout IS NOT NULL
                        AND h.created_at <= clock.now - make_interval(mins => s.auto_close_timeout))
                       OR (s.enable_reminders AND c.telegram_topic_id IS NOT NULL
                           AND ((h.reminder_1_sent_at IS NULL
                                 AND h.created_at <= clock.now - make_interval(mins => s.reminder_timeout_1))
                                OR (h.reminder_1_sent_at IS NOT NULL AND h.reminder_2_sent_at IS NULL
                                    AND h.created_at
                                        <= clock.now - make_interval(mins => s.reminder_timeout_2)))))
                ORDER BY h.created_at
                LIMIT $1""",
            limit, now,
        )
        if rows:
            now = rows[0]["clock_now"]
        elif now is None:
            now = await self.now()
        return now, [WaitingHandover(handover_from_row(r), r["has_topic"], r["branch_id"])
                     for r in rows]

    async def heal_suspects(self, limit: int = 1000) -> list[UUID]:
        """Conversations that break an invariant, in one consistent snapshot (oldest change
        first). Repairs go through `core.heal.repair`, which re-checks each one under lock."""
        rows = await self._pool.fetch(
            """SELECT c.id
                 FROM conversations c
                 LEFT JOIN handovers h ON h.conversation_id = c.id AND h.status IN ('pending', 'active')
                WHERE NOT ((c.state = 'bot_active' AND h.id IS NULL)
                        OR (c.state = 'pending' AND coalesce(h.status, '') = 'pending')
                        OR (c.state = 'manager_active' AND coalesce(h.status, '') = 'active'
                            AND c.telegram_topic_id IS NOT NULL))
                ORDER BY c.updated_at
                LIMIT $1""",
            limit,
        )
        return [r["id"] for r in rows]

    async def cardless_handovers(self, older_than: timedelta, limit: int = 500) -> list[UUID]:
        """Pending requests (on their partial index) without a card, whose card delivery is
        neither on its way nor given up less than `older_than` ago (the unique key's index)."""
        rows = await self._pool.fetch(
            """SELECT h.id
                 FROM handovers h
                 JOIN client_settings s ON s.client_id = h.client_id
                 LEFT JOIN outbox o ON o.idempotency_key = 'card:' || h.id::text
                WHERE h.status = 'pending' AND h.telegram_message_id IS NULL
                  AND h.created_at <= now() - $1::interval
                  AND s.telegram_bot_token IS NOT NULL
                  AND (o.id IS NULL OR (o.status = 'failed'
                                        AND o.next_attempt_at <= now() - $1::interval))
                ORDER BY h.created_at
                LIMIT $2""",
            older_than, limit)
        return [r["id"] for r in rows]

    async def requeue_orphan_events(self) -> int:
        return await inbox.enqueue_missing(self._pool)

    async def prune_sent_outbox(self, older_than: timedelta) -> int:
        """Delivered rows only: failed ones stay for the operator."""
        result = await self._pool.execute(
            "DELETE FROM outbox WHERE status = 'sent' AND sent_at < now() - $1::interval", older_than
        )
        return int(result.split()[-1])

    async def prune_messages(self, default_days: int) -> tuple[int, int]:
        return await lifecycle.prune_messages(self._pool, default_days)

    async def claim_daily_report(self, client_id: UUID, due: DailyReport, compose: Callable[
            [ReportFigures], Sequence[tuple[OutboundMessage, str]]]) -> bool:
        return await reports.claim_daily(self._pool, client_id, due, compose)
