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
from scheduler.jobs import prune_pass, sweep_pass
from storage.repositories import inbox
from storage.repositories.maintenance import PgMaintenance
from storage.store import PgStore, PgTenants
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


async def test_a_row_whose_worker_died_is_taken_over_after_its_lease(
        db: asyncpg.Pool, database_dsn: str, store: PgStore, salon: Client) -> None:
    """The outbox needs no sweeper: a claimed row's lease is its due time, so a row whose worker
    died is due again once the lease has run out, and only then."""
    stuck = await add_outbox(db, salon, "stuck", status="processing", lease_minutes=-1)
    await add_outbox(db, salon, "busy", status="processing", lease_minutes=5)
    await db.execute("UPDATE outbox SET next_attempt_at = locked_until")
    sender = RecordingSender()
    worker = OutboxWorker(db, database_dsn, {"telegram": sender}, store=store,
                          tenants=PgTenants(db))
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    assert sender.delivered == ["stuck"]
    assert await db.fetchval("SELECT status FROM outbox WHERE id = $1", stuck) == "sent"


async def test_events_waiting_outside_the_turn_queue_are_put_back_once(
        db: asyncpg.Pool, store: PgStore, salon: Client) -> None:
    conv = await make_conversation(db, salon.id, "77010000001@s.whatsapp.net")
    other = await make_conversation(db, salon.id, "77010000002@s.whatsapp.net")
    first = await add_event(db, salon, conv, "m1", attempts=1, lease_minutes=-1)
    second = await add_event(db, salon, other, "m2", attempts=0, lease_minutes=-1)

    requeued = await asyncio.gather(*(sweep_pass(PgMaintenance(db)) for _ in range(3)))

    assert sum(requeued) == 2
    turns = await inbox.claim_turns(db, limit=10, lease=timedelta(seconds=30))
    assert {t.conversation_id: [e.id for e in t.events] for t in turns} == {
        conv: [first], other: [second]}
    assert await inbox.claim_turns(db, limit=10, lease=timedelta(seconds=30)) == []
    assert await sweep_pass(PgMaintenance(db)) == 0


async def test_old_sent_outbox_rows_are_pruned_failed_ones_kept(
        db: asyncpg.Pool, store: PgStore, salon: Client) -> None:
    await add_outbox(db, salon, "old-sent", status="sent", sent_days_ago=31)
    await add_outbox(db, salon, "recent-sent", status="sent", sent_days_ago=1)
    await add_outbox(db, salon, "old-failed", status="failed", sent_days_ago=None)
    await db.execute("UPDATE outbox SET created_at = now() - interval '60 days'")

    assert await prune_pass(PgMaintenance(db)) == 1

    assert sorted(await db.fetchval("SELECT array_agg(idempotency_key) FROM outbox")) == ["old-failed", "recent-sent"]
