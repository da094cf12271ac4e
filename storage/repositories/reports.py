"""The owner's figures: one module of queries that the daily report, `/stats` in the desk group
(`DeskRecords.figures`) and the admin API's `GET /admin/clients/{slug}/stats` all read, so they
always agree; and the daily report's claim (`Maintenance.claim_daily_report`: one row per client
and local day, taken in the transaction that counts the figures and queues the report)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from core.models import HandoverStatus, TriggerType
from core.outbound import OutboundMessage
from core.reports import UNRESOLVED_LISTED, DailyReport, ReportFigures, UnresolvedRequest
from storage.repositories.outbox import OutboxRepo

# Bot replies that answered the customer (not the notices of an escalation, a mute, …); rows
# written before replies carried their act count as answers.
_ANSWER_ACTS = ("answer", "small_talk")
Executor = asyncpg.Connection | asyncpg.Pool


async def figures(db: Executor, client_id: UUID, start: datetime, end: datetime) -> ReportFigures:
    """What happened in [start, end) for one client (`core.reports.ReportFigures`), with the
    customers' channels only: the operator's console chats (`python -m gateway chat`) are
    tests, not customers."""
    # one read of the period's messages: who wrote, how often, what the bot answered, and who
    # wrote while no request of theirs was open at any time of the period
    talk = await db.fetchrow(
        """WITH talk AS (
               SELECT m.conversation_id, m.role, m.metadata->>'act' AS act
                 FROM messages m JOIN conversations c ON c.id = m.conversation_id
                WHERE c.client_id = $1 AND c.channel <> 'console'
                  AND m.created_at >= $2 AND m.created_at < $3),
           writers AS (SELECT DISTINCT conversation_id FROM talk WHERE role = 'user')
           SELECT (SELECT count(*) FROM writers) AS customers,
                  (SELECT count(*) FROM talk WHERE role = 'user') AS messages,
                  (SELECT count(*) FROM talk WHERE role = 'assistant'
                                               AND coalesce(act, 'answer') = ANY($4)) AS bot_answers,
                  (SELECT count(*) FROM writers
                    WHERE conversation_id NOT IN (  -- hashed once: the client's requests open then
                        SELECT conversation_id FROM handovers
                         WHERE client_id = $1 AND created_at < $3
                           AND (resolved_at IS NULL OR resolved_at >= $2))) AS bot_only""",
        client_id, start, end, list(_ANSWER_ACTS))
    escalations = await db.fetch(
        """SELECT coalesce(h.trigger_value, h.trigger_type) AS topic, count(*) AS n
             FROM handovers h JOIN conversations c ON c.id = h.conversation_id
            WHERE h.client_id = $1 AND c.channel <> 'console'
              AND h.created_at >= $2 AND h.created_at < $3
            GROUP BY 1""",
        client_id, start, end)
    take = await db.fetchrow(
        """SELECT count(*) AS taken,
                  percentile_cont(0.5) WITHIN GROUP (
                      ORDER BY extract(epoch FROM h.taken_at - h.created_at)) AS median,
                  max(extract(epoch FROM h.taken_at - h.created_at)) AS worst
             FROM handovers h JOIN conversations c ON c.id = h.conversation_id
            WHERE h.client_id = $1 AND c.channel <> 'console'
              AND h.taken_at >= $2 AND h.taken_at < $3 AND h.trigger_type <> 'manual'""",
        client_id, start, end)
    # ratings given in the period (not those of the requests resolved in it: a customer rates
    # after the resolve, maybe after the report, and consecutive reports count each one once)
    ratings = await db.fetchrow(
        """SELECT count(*) AS rated, avg(h.rating)::float8 AS average
             FROM handovers h JOIN conversations c ON c.id = h.conversation_id
            WHERE h.client_id = $1 AND c.channel <> 'console'
              AND h.rated_at >= $2 AND h.rated_at < $3""",
        client_id, start, end)
    resolutions = await db.fetch(
        """SELECT h.resolution, count(*) AS n
             FROM handovers h JOIN conversations c ON c.id = h.conversation_id
            WHERE h.client_id = $1 AND c.channel <> 'console'
              AND h.resolved_at >= $2 AND h.resolved_at < $3
            GROUP BY 1""",
        client_id, start, end)
    open_rows = await db.fetch(
        """SELECT h.id, h.conversation_id, h.trigger_type, h.trigger_value, h.created_at,
                  CASE WHEN h.taken_at < $2 THEN 'active' ELSE 'pending' END AS status,
                  u.name, u.phone, c.telegram_chat_id, c.telegram_topic_id,
                  count(*) OVER () AS total
             FROM handovers h
             JOIN conversations c ON c.id = h.conversation_id
             JOIN users u ON u.id = c.user_id
            WHERE h.client_id = $1 AND c.channel <> 'console' AND h.created_at < $2
              AND (h.resolved_at IS NULL OR h.resolved_at >= $2)
            ORDER BY h.created_at
            LIMIT $3""",
        client_id, end, UNRESOLVED_LISTED)
    return ReportFigures(
        start=start, end=end, customers=talk["customers"], messages=talk["messages"],
        bot_answers=talk["bot_answers"], bot_only_customers=talk["bot_only"],
        escalations={r["topic"]: r["n"] for r in escalations},
        taken=take["taken"],
        median_take_seconds=_seconds(take["median"]), worst_take_seconds=_seconds(take["worst"]),
        resolutions={r["resolution"]: r["n"] for r in resolutions},
        rated=ratings["rated"], rating_average=ratings["average"],
        unresolved=tuple(UnresolvedRequest(
            r["id"], r["conversation_id"], HandoverStatus(r["status"]),
            TriggerType(r["trigger_type"]), r["trigger_value"], r["name"], r["phone"],
            r["created_at"], r["telegram_chat_id"], r["telegram_topic_id"])
            for r in open_rows),
        unresolved_total=open_rows[0]["total"] if open_rows else 0,
    )


async def claim_daily(pool: asyncpg.Pool, client_id: UUID, due: DailyReport,
                      compose: Callable[[ReportFigures], Sequence[tuple[OutboundMessage, str]]]
                      ) -> bool:
    """Claim the client's report of `due.day`; when this claim is the first, count the figures
    of its period and queue what `compose` makes of them, in the same transaction. A second
    claim (another scheduler) waits for the first to commit and finds the row: False."""
    async with pool.acquire() as conn, conn.transaction():
        claimed = await conn.fetchval(
            """INSERT INTO daily_reports (client_id, report_date, period_start, period_end)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true""",
            client_id, due.day, due.period.start, due.period.end)
        if not claimed:
            return False
        outbox = OutboxRepo(conn)
        for message, key in compose(await figures(conn, client_id, due.period.start,
                                                  due.period.end)):
            await outbox.enqueue(client_id, message, key)
    return True


def _seconds(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
