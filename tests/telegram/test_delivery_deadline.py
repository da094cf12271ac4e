"""A delivery holds its row while it runs: Bot API requests time out after 20 s, a delivery still
running at the worker's deadline is cut and retried, and the lease is renewed while a slow
delivery runs, so no second worker sends the same row meanwhile."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from channels.telegram.bots import REQUEST_TIMEOUT, BotRegistry
from core.delivery import Delivery, DeliveryOutcome
from core.outbound import Mirror
from gateway import outbox_worker
from gateway.outbox_worker import OutboxWorker
from storage.store import PgStore, PgTenants
from tests.factories import make_conversation
from tests.fakes import wait_for
from tests.telegram.conftest import outbox_rows
from tests.telegram.test_topic_effects import enqueue


async def test_bot_requests_time_out_in_20_seconds(tg, client_a) -> None:
    bots = BotRegistry(tg.base)
    try:
        bot = bots.bot_for(client_a)
        assert bot is not None and bot.session.timeout == REQUEST_TIMEOUT == 20
    finally:
        await bots.close()


def test_the_worst_single_message_delivery_ends_before_its_deadline() -> None:
    # 5 Bot API requests (topic, send, topic again, send again, pin) + waits and recorded steps
    worst_telegram = 5 * REQUEST_TIMEOUT + 2 * 1.0 + 3 * 4.0
    assert worst_telegram < outbox_worker.DEADLINE.total_seconds()


class Slow:
    """A sender whose peer takes longer than several leases to answer."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def deliver(self, delivery: Delivery) -> DeliveryOutcome:
        await asyncio.sleep(3.5)
        self.sent.append(delivery.idempotency_key)
        return DeliveryOutcome.sent()


async def test_a_slow_delivery_keeps_its_row_while_it_runs(db, database_dsn, client_a) -> None:
    conv = await make_conversation(db, client_a.id, "77011112233@s.whatsapp.net")
    await enqueue(db, client_a.id, Mirror(conv, ("алло",)), "m-slow")
    # renewed every third of it: a stall of the event loop or the database shorter than two
    # thirds of a lease (a busy machine) must not let it run out
    lease = timedelta(seconds=1.0)
    slow, other = Slow(), Slow()
    first = OutboxWorker(db, database_dsn, {"telegram": slow}, store=PgStore(db),
                         tenants=PgTenants(db), lease=lease)
    second = OutboxWorker(db, database_dsn, {"telegram": other}, store=PgStore(db),
                          tenants=PgTenants(db), lease=lease)
    await first.start()
    try:
        await wait_for(lambda: db.fetchval("SELECT status = 'processing' FROM outbox"))
        for _ in range(6):  # several leases pass while the first delivery runs
            await asyncio.sleep(0.45)
            assert await second.run_once() == 0
        await wait_for(lambda: slow.sent)
    finally:
        await first.stop()
    assert other.sent == [] and slow.sent == ["m-slow"]
    assert [r["status"] for r in await outbox_rows(db)] == ["sent"]


class Stuck:
    """A sender whose peer never answers."""

    async def deliver(self, delivery: Delivery) -> DeliveryOutcome:
        await asyncio.sleep(3600)
        return DeliveryOutcome.sent()


async def test_a_delivery_past_its_deadline_is_cut_and_retried(db, database_dsn, client_a) -> None:
    conv = await make_conversation(db, client_a.id, "77011112233@s.whatsapp.net")
    await enqueue(db, client_a.id, Mirror(conv, ("алло",)), "m-stuck")
    worker = OutboxWorker(db, database_dsn, {"telegram": Stuck()},
                          store=PgStore(db), tenants=PgTenants(db),
                          deadline=timedelta(seconds=0.2))
    assert await asyncio.wait_for(worker.run_once(), 5) == 1
    (row,) = await outbox_rows(db)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert "longer than 0.2 s" in row["last_error"]
