"""What the operators' gauges read at scrape time (`GET /metrics`), per client: the depth and
the age of the oldest item of each queue, failed deliveries, open handovers. Every replica
reads the same shared truth. Each query reads only waiting rows, on the partial indexes that
keep them (turn_queue is itself the waiting rows; `inbound_events_queue`, `outbox_due`,
`outbox_failed`, `telegram_updates_unprocessed`, `handovers_one_open`), so a scrape costs the
size of the backlog, not of the history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import asyncpg

QUEUES = ("turns", "inbound", "outbox", "telegram_updates")


@dataclass(frozen=True, slots=True)
class QueueGauge:
    queue: str
    client_id: UUID
    depth: int
    oldest_age_seconds: float


@dataclass(frozen=True, slots=True)
class HandoverGauge:
    client_id: UUID
    state: str  # pending | active
    open: int
    oldest_age_seconds: float
    without_card: int  # pending ones whose card is not posted (yet)
    without_card_oldest_age_seconds: float


@dataclass(frozen=True, slots=True)
class OpsGauges:
    clients: dict[UUID, str]  # id -> slug, every client (each gets its zeros)
    queues: list[QueueGauge] = field(default_factory=list)
    failed_deliveries: list[tuple[UUID, str, int]] = field(default_factory=list)  # client, channel
    handovers: list[HandoverGauge] = field(default_factory=list)


async def read(pool: asyncpg.Pool) -> OpsGauges:
    async with pool.acquire() as conn:
        now = await conn.fetchval("SELECT now()")
        clients = {r["id"]: r["slug"] for r in await conn.fetch("SELECT id, slug FROM clients")}
        queues = await conn.fetch(
            """SELECT 'turns' AS queue, client_id, count(*) AS depth, min(first_at) AS oldest
                 FROM turn_queue GROUP BY client_id
               UNION ALL
               SELECT 'inbound', client_id, count(*), min(received_at) FROM inbound_events
                WHERE status IN ('queued', 'processing') GROUP BY client_id
               UNION ALL
               SELECT 'outbox', client_id, count(*), min(created_at) FROM outbox
                WHERE status IN ('pending', 'processing') GROUP BY client_id
               UNION ALL
               SELECT 'telegram_updates', client_id, count(*), min(received_at)
                 FROM telegram_updates WHERE processed_at IS NULL GROUP BY client_id""")
        failed = await conn.fetch(
            """SELECT client_id, channel, count(*) AS failed FROM outbox
                WHERE status = 'failed' GROUP BY client_id, channel""")
        handovers = await conn.fetch(
            """SELECT client_id, status, count(*) AS open, min(created_at) AS oldest,
                      count(*) FILTER (WHERE status = 'pending' AND telegram_message_id IS NULL)
                          AS without_card,
                      min(created_at) FILTER (WHERE status = 'pending'
                                                AND telegram_message_id IS NULL) AS oldest_cardless
                 FROM handovers WHERE status IN ('pending', 'active')
                GROUP BY client_id, status""")

    def age(at: datetime | None) -> float:
        return max((now - at).total_seconds(), 0.0) if at is not None else 0.0

    return OpsGauges(
        clients=clients,
        queues=[QueueGauge(r["queue"], r["client_id"], r["depth"], age(r["oldest"]))
                for r in queues],
        failed_deliveries=[(r["client_id"], r["channel"], r["failed"]) for r in failed],
        handovers=[HandoverGauge(r["client_id"], r["status"], r["open"], age(r["oldest"]),
                                 r["without_card"], age(r["oldest_cardless"])) for r in handovers])


async def inbound_backlog(pool: asyncpg.Pool) -> dict[UUID, int]:
    """Inbound events waiting for their turn, per client (the backlog alert)."""
    rows = await pool.fetch(
        """SELECT client_id, count(*) AS waiting FROM inbound_events
            WHERE status IN ('queued', 'processing') GROUP BY client_id""")
    return {r["client_id"]: r["waiting"] for r in rows}
