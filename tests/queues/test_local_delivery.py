"""A reply committed by this process is handed straight to its outbox worker, written already
leased to it, so no notification and no claim stand between the commit and the send; the outbox
stays the safety net: a row written behind an older one of its lane waits for the claim, and a
row leased to a process that died is claimed by another once its lease runs out."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from core.delivery import Delivery, DeliveryOutcome
from core.outbound import CustomerText
from gateway.outbox_worker import OutboxWorker
from storage.repositories import outbox
from storage.repositories.outbox import LocalLease
from storage.store import PgStore, PgTenants
from tests.factories import make_client, make_conversation

JID = "77011234567@s.whatsapp.net"


class RecordingSender:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, int]] = []
        self.arrived = asyncio.Event()

    async def deliver(self, delivery: Delivery) -> DeliveryOutcome:
        self.delivered.append((delivery.idempotency_key, delivery.attempts))
        self.arrived.set()
        return DeliveryOutcome.sent({"id": delivery.idempotency_key})


async def reply(store: PgStore, client_id, conversation_id, key: str) -> None:
    async with store.transaction() as tx:
        await tx.outbox.enqueue(client_id, CustomerText(conversation_id, JID, key), key)


async def status(db: asyncpg.Pool, key: str) -> tuple[str, int]:
    row = await db.fetchrow("SELECT status, attempts FROM outbox WHERE idempotency_key = $1", key)
    return row["status"], row["attempts"]


@pytest.fixture
async def world(db: asyncpg.Pool, database_dsn: str):
    client = await make_client(db, "salon")
    conversation = await make_conversation(db, client.id, JID)
    sender = RecordingSender()
    store = PgStore(db)
    worker = OutboxWorker(db, database_dsn, {"whatsapp": sender}, store=store,
                          tenants=PgTenants(db))
    return client, conversation, sender, store, worker


async def test_a_committed_reply_goes_to_the_sender_without_a_claim(db, world, monkeypatch) -> None:
    client, conversation, sender, store, worker = world
    claims = []
    real_claim = outbox.claim_due

    async def counted(*args, **kwargs):
        claims.append(1)
        return await real_claim(*args, **kwargs)

    monkeypatch.setattr(outbox, "claim_due", counted)
    store.deliver_locally(worker.local_lease(), worker.hand_over)
    await reply(store, client.id, conversation, "reply-1")
    await asyncio.wait_for(sender.arrived.wait(), 10)
    await worker.stop()  # waits for the delivery in flight to record its outcome
    assert sender.delivered == [("reply-1", 1)]
    assert claims == []
    assert await status(db, "reply-1") == ("sent", 1)


async def test_nothing_is_handed_over_when_the_transaction_rolls_back(db, world) -> None:
    client, conversation, _sender, store, worker = world
    handed: list[list[Delivery]] = []
    store.deliver_locally(worker.local_lease(), handed.append)
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.outbox.enqueue(client.id, CustomerText(conversation, JID, "x"), "reply-x")
            raise RuntimeError("the turn failed after queueing its reply")
    assert handed == []
    assert await db.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_row_behind_an_older_one_of_its_lane_waits_for_the_claim(db, world) -> None:
    client, conversation, sender, store, worker = world
    await reply(store, client.id, conversation, "first")  # written pending: no local delivery yet
    handed: list[list[Delivery]] = []
    store.deliver_locally(worker.local_lease(), handed.append)
    await reply(store, client.id, conversation, "second")
    assert handed == []  # its lane is not free: the claim hands it out in turn
    assert await status(db, "second") == ("pending", 0)
    assert await worker.run_once() == 1
    assert await worker.run_once() == 1
    assert [key for key, _ in sender.delivered] == ["first", "second"]


async def test_a_row_leased_to_a_process_that_died_is_claimed_after_its_lease(db, world) -> None:
    client, conversation, sender, store, worker = world
    died = LocalLease(takes=lambda channel: True, lease=timedelta(minutes=5))
    store.deliver_locally(died, lambda deliveries: None)  # the process dies before sending
    await reply(store, client.id, conversation, "reply-1")
    assert await status(db, "reply-1") == ("processing", 1)
    assert await worker.run_once() == 0  # leased: nobody else takes it meanwhile
    await db.execute("UPDATE outbox SET next_attempt_at = now() - interval '1 second'")  # lease over
    assert await worker.run_once() == 1
    assert sender.delivered == [("reply-1", 2)]
    assert await status(db, "reply-1") == ("sent", 2)


async def test_a_full_worker_takes_no_more_and_the_row_is_written_for_the_claim(db, world) -> None:
    client, conversation, sender, store, worker = world
    store.deliver_locally(LocalLease(takes=lambda channel: False, lease=timedelta(seconds=15)),
                          worker.hand_over)
    await reply(store, client.id, conversation, "reply-1")
    assert await status(db, "reply-1") == ("pending", 0)
    assert await worker.run_once() == 1
    assert sender.delivered == [("reply-1", 1)]
