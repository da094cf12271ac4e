"""The outbox: outbound deliveries, claimed with leases so that several workers and replicas never
deliver one row twice at the same time, and a crash only delays a row.

A row is due when `next_attempt_at` has passed. A claim leases it by moving `next_attempt_at` to
the end of the lease (renewed by the worker's heartbeat), so a row whose worker died becomes due
again by itself. Rows of one conversation and channel go out in order: a row waits while an older
one of its lane is still pending. The claim reads the due rows on their own index and checks each
one's lane with an index probe (a per-row sub-plan that cannot be turned into a scan of the whole
queue), so its cost does not grow with the backlog or depend on the table statistics."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg

from core.delivery import Delivery, retry_window
from core.outbound import OutboundMessage, UndecodableMessage, decode, encode

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "truffles_outbox"
DEFAULT_REPLY_RETRY = timedelta(hours=1)


def delivery_from_row(row: asyncpg.Record) -> Delivery:
    return Delivery(
        id=row["id"], client_id=row["client_id"], conversation_id=row["conversation_id"],
        channel=row["channel"], kind=row["kind"],
        message=decode(row["channel"], row["kind"], row["payload"]),
        idempotency_key=row["idempotency_key"], attempts=row["attempts"],
        deliver_until=row["deliver_until"], handover_open=bool(row["handover_open"]),
        progress=row["result"],
    )


# A row queued: written leased to the writing process (`LocalLease`: claimed already, attempt
# 1) when the statement gives a lease and no older row of its lane still waits (the lane's order
# comes first), otherwise pending, the claims told by a notification. `enqueue_sql(first)`: the
# statement with its parameters numbered from `first` in the order of `enqueue_args`; `gate`:
# more FROM items, for a statement that writes the row only when they have a row.
def enqueue_sql(first: int = 1, gate: str = "") -> str:
    (client, conversation, channel, kind, payload, key, handover, max_age,
     lease) = (f"${first + i}" for i in range(9))
    return f"""
    INSERT INTO outbox AS o (client_id, conversation_id, channel, kind, payload, idempotency_key,
                             handover_id, deliver_until, status, attempts, next_attempt_at,
                             locked_until)
    SELECT {client}::uuid, {conversation}::uuid, {channel}::text, {kind}::text, {payload}::jsonb,
           {key}::text, {handover}::uuid, now() + {max_age}::interval, lane.status,
           (lane.status = 'processing')::int,
           CASE WHEN lane.status = 'processing' THEN now() + {lease}::interval ELSE now() END,
           CASE WHEN lane.status = 'processing' THEN now() + {lease}::interval END
      FROM (SELECT CASE WHEN {lease}::interval IS NULL OR EXISTS (
                       SELECT 1 FROM outbox older
                        WHERE older.conversation_id = {conversation} AND older.channel = {channel}
                          AND older.status IN ('pending', 'processing'))
                   THEN 'pending' ELSE 'processing' END AS status) lane{gate}
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING o.*, EXISTS (SELECT 1 FROM handovers h WHERE h.id = o.handover_id
                              AND h.status <> 'resolved') AS handover_open,
              CASE WHEN o.status = 'pending'
                   THEN pg_notify('{NOTIFY_CHANNEL}', o.channel) END AS notified"""


_ENQUEUE = enqueue_sql()


@dataclass(frozen=True, slots=True)
class LocalLease:
    """Rows this process delivers itself as soon as their transaction commits: they are
    written already leased to it (`lease` long; the sender's worker renews it while sending),
    so no claim has to find them. `takes(channel)`: whether the process has a sender for the
    channel and room for one more delivery now. Should the process die before sending, the
    lease runs out and any worker claims the row like any other."""

    takes: Callable[[str], bool]
    lease: timedelta


def enqueue_args(client_id: UUID, message: OutboundMessage, key: str, *,
                 reply_retry: timedelta, local: LocalLease | None) -> tuple[Any, ...]:
    """The parameters of `enqueue_sql`: the row, and the lease when `local` takes the channel."""
    channel, kind, payload = encode(message)
    window = retry_window(message, reply_retry)
    lease = local.lease if local is not None and local.takes(channel) else None
    return (client_id, message.conversation_id, channel, kind, payload, key, window.handover_id,
            window.max_age, lease)


class OutboxRepo:
    def __init__(self, conn: asyncpg.Connection, *,
                 reply_retry: timedelta = DEFAULT_REPLY_RETRY,
                 local: LocalLease | None = None) -> None:
        self._conn = conn
        self._reply_retry = reply_retry
        self._local = local
        self.leased: list[Delivery] = []  # written leased to this process (`LocalLease`)

    async def enqueue(self, client_id: UUID, message: OutboundMessage, key: str) -> bool:
        """False when a row with this idempotency key exists already (nothing is written)."""
        row = await self._conn.fetchrow(_ENQUEUE, *enqueue_args(
            client_id, message, key, reply_retry=self._reply_retry, local=self._local))
        if row is not None and row["status"] == "processing":
            self.leased.append(delivery_from_row(row))
        return row is not None

    async def fail(self, delivery: Delivery, error: str) -> bool:
        """Give the delivery up (as claimed: same attempt); False when it was taken over."""
        return await mark_failed(self._conn, delivery, error)

    async def retry_failed(self, key: str, failed_before: timedelta) -> bool:
        """A given-up row due again, attempts from zero. When it was given up is when its last
        claim's lease began (`next_attempt_at` minus the lease, at most a few minutes), so the
        row must have failed at least `failed_before` (plus that lease) ago."""
        channel = await self._conn.fetchval(
            """UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = now(),
                                 locked_until = NULL
                WHERE idempotency_key = $1 AND status = 'failed'
                  AND next_attempt_at <= now() - $2::interval
            RETURNING channel, pg_notify('""" + NOTIFY_CHANNEL + """', channel)""",
            key, failed_before)
        return channel is not None


async def claim_due(pool: asyncpg.Pool, *, limit: int, lease: timedelta,
                    channels: tuple[str, ...] | None = None) -> list[Delivery]:
    """Due rows, earliest first, leased to the caller; each with whether its request is open."""
    rows = await pool.fetch(
        """WITH due AS (
               SELECT o.id FROM outbox o
                WHERE o.status IN ('pending', 'processing') AND o.next_attempt_at <= now()
                  AND ($3::text[] IS NULL OR o.channel = ANY($3))
                  AND NOT EXISTS (
                      SELECT 1 FROM outbox older
                       WHERE older.conversation_id = o.conversation_id
                         AND older.channel = o.channel AND older.id < o.id
                         AND older.status IN ('pending', 'processing')
                      OFFSET 0)
                ORDER BY o.next_attempt_at
                LIMIT $1
                FOR UPDATE SKIP LOCKED)
           UPDATE outbox o SET status = 'processing', attempts = o.attempts + 1,
                               next_attempt_at = now() + $2, locked_until = now() + $2
             FROM due WHERE o.id = due.id
           RETURNING o.*, EXISTS (SELECT 1 FROM handovers h WHERE h.id = o.handover_id
                                     AND h.status <> 'resolved') AS handover_open""",
        limit, lease, list(channels) if channels else None,
    )
    deliveries = []
    for row in sorted(rows, key=lambda r: r["id"]):
        try:
            deliveries.append(delivery_from_row(row))
        except UndecodableMessage as exc:  # written by a newer version, or by hand
            log.error("outbox row cannot be read; marked failed",
                      extra={"delivery": row["id"], "error": str(exc)})
            await pool.execute("UPDATE outbox SET status = 'failed', last_error = $2 WHERE id = $1",
                               row["id"], f"cannot be read: {exc}")
    return deliveries


async def renew(pool: asyncpg.Pool, deliveries: Sequence[Delivery], lease: timedelta) -> None:
    """The heartbeat of deliveries in flight: their leases run `lease` from now."""
    if deliveries:
        deliveries = sorted(deliveries, key=lambda d: d.id)  # one lock order for every renewal
        await pool.execute(
            """UPDATE outbox o SET next_attempt_at = now() + $3, locked_until = now() + $3
                 FROM unnest($1::bigint[], $2::int[]) AS d(id, attempts)
                WHERE o.id = d.id AND o.attempts = d.attempts AND o.status = 'processing'""",
            [d.id for d in deliveries], [d.attempts for d in deliveries], lease)


async def mark_sent(pool: asyncpg.Pool, sent: Sequence[tuple[Delivery, dict[str, Any] | None]]
                    ) -> list[None]:
    """Deliveries that went out, each with what the channel answered, in one statement (the
    outbox worker's group commit); a row claimed again meanwhile (another attempt) is left to
    its new claim. One None per delivery, in order."""
    ordered = sorted(sent, key=lambda item: item[0].id)  # one lock order for every batch
    await pool.execute(
        """UPDATE outbox o SET status = 'sent', sent_at = now(), locked_until = NULL,
                               result = d.result, last_error = NULL
             FROM unnest($1::bigint[], $2::int[], $3::jsonb[]) AS d(id, attempts, result)
            WHERE o.id = d.id AND o.attempts = d.attempts AND o.status = 'processing'""",
        [d.id for d, _ in ordered], [d.attempts for d, _ in ordered],
        [result for _, result in ordered])
    return [None] * len(sent)


async def record_progress(pool: asyncpg.Pool, delivery_id: int, progress: dict[str, Any]) -> None:
    """Note, in a row still being delivered, what is done already (kept in `result` until the
    row is sent; the next attempt gets it as `Delivery.progress` and resumes from there)."""
    await pool.execute("UPDATE outbox SET result = $2 WHERE id = $1 AND status = 'processing'",
                       delivery_id, progress)


async def mark_retry(pool: asyncpg.Pool, delivery: Delivery, error: str, delay: timedelta, *,
                     refund_attempt: bool = False) -> None:
    """Back to pending, due after `delay`. `refund_attempt` gives back the attempt the claim
    counted (a deferral that sent nothing and failed nothing)."""
    await pool.execute(
        """UPDATE outbox SET status = 'pending', locked_until = NULL, last_error = $3,
                             next_attempt_at = now() + $4,
                             attempts = CASE WHEN $5 THEN greatest(attempts - 1, 0) ELSE attempts END
            WHERE id = $1 AND attempts = $2 AND status = 'processing'""",
        delivery.id, delivery.attempts, error[:2000], delay, refund_attempt,
    )


async def mark_failed(db: asyncpg.Connection | asyncpg.Pool, delivery: Delivery, error: str) -> bool:
    result = await db.execute(
        """UPDATE outbox SET status = 'failed', locked_until = NULL, last_error = $3
            WHERE id = $1 AND attempts = $2 AND status = 'processing'""",
        delivery.id, delivery.attempts, error[:2000],
    )
    return result.endswith(" 1")


async def next_due_in(pool: asyncpg.Pool) -> float | None:
    """Seconds until the next row is due (None when none waits)."""
    return await pool.fetchval(
        """SELECT greatest(0, extract(epoch FROM next_attempt_at - now()))::float8
             FROM outbox WHERE status IN ('pending', 'processing')
            ORDER BY next_attempt_at LIMIT 1"""
    )
