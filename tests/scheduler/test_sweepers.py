"""Rows stuck in 'processing' past their lease go back to their queue exactly once; old delivered
outbox rows are pruned."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import uuid4

import asyncpg

from core.delivery import Delivery, DeliveryOutcome
from core.models import Client
from core.outbound import TopicMessage, encode
from gateway.outbox_worker import OutboxWorker
from scheduler.jobs import INBOUND_MAX_ATTEMPTS, prune_pass, sweep_pass
from storage.repositories import inbox
from storage.repositories.maintenance import PgMaintenance
from storage.store import PgStore
from tests.factories import make_conversation


class RecordingSender:
    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def deliver(self, delivery: Delivery) -> DeliveryOutcome:
        self.delivered.append(delivery.idempotency_key)
        return DeliveryOutcome.sent()


async def add_outbox(db: asyncpg.Pool, client: Client, key: str, *, status: str, lease_minutes: float | None = None,
                     sent_days_ago: float | None = None) -> int:
    return await db.fetchval(
        """INSERT INTO outbox (client_id, channel, kind, payload, idempotency_key, status, attempts,
                               locked_until, sent_at)
           VALUES ($1, 'telegram', 'topic_message', $6, $2, $3, 1,
                   now() + make_interval(secs => $4::float8 * 60),
                   now() - make_interval(secs => $5::float8 * 86400))
           RETURNING id""",
        client.id, key, status, lease_minutes, sent_days_ago,
        encode(TopicMessage(uuid4(), "заметка"))[2])


async def add_event(db: asyncpg.Pool, client: Client, conv: object, pid: str, *, attempts: int,
                    lease_minutes: float) -> int:
    return await db.fetchval(
        """INSERT INTO inbound_events (client_id, channel, provider_message_id, conversation_id, payload,
                                       status, attempts, locked_until, received_at)
           VALUES ($1, 'whatsapp', $2, $3, '{}', 'processing', $4,
                   now() + make_interval(secs => $5::float8 * 60), now() - interval '10 minutes')
           RETURNING id""",
        client.id, pid, conv, attempts, lease_minutes)


async def test_a_stuck_outbox_row_is_requeued_and_delivered_once(
        db: asyncpg.Pool, database_dsn: str, store: PgStore, salon: Client) -> None:
    stuck = await add_outbox(db, salon, "stuck", status="processing", lease_minutes=-1)
    busy = await add_outbox(db, salon, "busy", status="processing", lease_minutes=5)

    reports = await asyncio.gather(*(sweep_pass(PgMaintenance(db)) for _ in range(3)))

    assert sum(r.outbox_requeued for r in reports) == 1
    rows = {r["id"]: r for r in await db.fetch("SELECT * FROM outbox")}
    assert (rows[stuck]["status"], rows[stuck]["locked_until"]) == ("pending", None)
    assert rows[busy]["status"] == "processing"  # its worker is still within its lease
    sender = RecordingSender()
    worker = OutboxWorker(db, database_dsn, {"telegram": sender})
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    assert sender.delivered == ["stuck"]
    assert await db.fetchval("SELECT status FROM outbox WHERE id = $1", stuck) == "sent"


async def test_a_stuck_inbound_event_is_requeued_once_and_a_poison_one_fails(
        db: asyncpg.Pool, store: PgStore, salon: Client) -> None:
    conv = await make_conversation(db, salon.id, "77010000001@s.whatsapp.net")
    other = await make_conversation(db, salon.id, "77010000002@s.whatsapp.net")
    third = await make_conversation(db, salon.id, "77010000003@s.whatsapp.net")
    stuck = await add_event(db, salon, conv, "m1", attempts=1, lease_minutes=-1)
    poison = await add_event(db, salon, other, "m2", attempts=INBOUND_MAX_ATTEMPTS, lease_minutes=-1)
    busy = await add_event(db, salon, third, "m3", attempts=1, lease_minutes=5)

    reports = await asyncio.gather(*(sweep_pass(PgMaintenance(db)) for _ in range(3)))

    assert sum(r.inbound_requeued for r in reports) == 1
    assert sum(r.inbound_failed for r in reports) == 1
    statuses = {r["id"]: r["status"] for r in await db.fetch("SELECT id, status FROM inbound_events")}
    assert statuses == {stuck: "queued", poison: "failed", busy: "processing"}
    claimed = await inbox.claim_turn(db, lease=timedelta(minutes=2), max_wait=0)
    assert claimed is not None and [e.id for e in claimed[1]] == [stuck]
    assert await inbox.claim_turn(db, lease=timedelta(minutes=2), max_wait=0) is None


async def test_old_sent_outbox_rows_are_pruned_failed_ones_kept(
        db: asyncpg.Pool, store: PgStore, salon: Client) -> None:
    await add_outbox(db, salon, "old-sent", status="sent", sent_days_ago=31)
    await add_outbox(db, salon, "recent-sent", status="sent", sent_days_ago=1)
    await add_outbox(db, salon, "old-failed", status="failed", sent_days_ago=None)
    await db.execute("UPDATE outbox SET created_at = now() - interval '60 days'")

    assert await prune_pass(PgMaintenance(db)) == 1

    assert sorted(await db.fetchval("SELECT array_agg(idempotency_key) FROM outbox")) == ["old-failed", "recent-sent"]
