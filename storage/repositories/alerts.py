"""The alert log (`core.ports.AlertLog`): one row per alert key. A claim runs under a
transaction-scoped advisory lock, so that the replicas decide one at a time: the de-duplication
and the hourly budget hold however many processes see the same condition at once (alerts are
rare: the lock costs nothing)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from core.ports import AlertClaim, AlertDecision

_ALERT_LOCK_KEY = 0x7472756666_50  # any constant, the same in every process


class PgAlertLog:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim(self, key: str, kind: str, client_id: UUID | None, *, repeat: timedelta,
                    per_hour: int) -> AlertClaim:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _ALERT_LOCK_KEY)
            recent = await conn.fetchval(
                "SELECT last_sent_at > now() - $2::interval FROM alerts WHERE key = $1",
                key, repeat)
            if recent:
                decision = AlertDecision.DUPLICATE
            else:
                sent = await conn.fetchval(
                    "SELECT count(*) FROM alerts WHERE last_sent_at > now() - interval '1 hour'")
                decision = AlertDecision.SENT if sent < per_hour else AlertDecision.RATE_LIMITED
            send = decision is AlertDecision.SENT
            row = await conn.fetchrow(
                """INSERT INTO alerts AS a (key, kind, client_id, last_sent_at, suppressed)
                   VALUES ($1, $2, $3, CASE WHEN $4 THEN now() END, CASE WHEN $4 THEN 0 ELSE 1 END)
                   ON CONFLICT (key) DO UPDATE
                      SET count = a.count + 1, last_seen_at = now(),
                          last_sent_at = CASE WHEN $4 THEN now() ELSE a.last_sent_at END,
                          suppressed = a.suppressed + CASE WHEN $4 THEN 0 ELSE 1 END
                   RETURNING count, CASE WHEN $4 THEN last_sent_at END AS sent_at""",
                key, kind, client_id, send)
        return AlertClaim(decision, row["count"], row["sent_at"])

    async def hold(self, key: str, text: str) -> None:
        await self._pool.execute(
            """UPDATE alerts SET held_text = $2, held_since = coalesce(held_since, now())
                WHERE key = $1""", key, text[:8000])

    async def held(self, limit: int) -> list[tuple[str, str, datetime]]:
        rows = await self._pool.fetch(
            """SELECT key, held_text, held_since FROM alerts WHERE held_text IS NOT NULL
                ORDER BY held_since LIMIT $1""", limit)
        return [(r["key"], r["held_text"], r["held_since"]) for r in rows]

    async def handed_over(self, key: str) -> None:
        await self._pool.execute(
            "UPDATE alerts SET held_text = NULL, held_since = NULL WHERE key = $1", key)
