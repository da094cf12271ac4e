"""One delivery ends well within its outbox lease: Bot API requests time out after 20 s, and a
delivery still running at the worker's deadline is cut and retried (not left for a second worker
to send again once the lease has run out)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from channels.telegram.bots import REQUEST_TIMEOUT, BotRegistry
from core.delivery import Delivery, DeliveryOutcome
from core.outbound import Mirror
from gateway import outbox_worker
from gateway.outbox_worker import OutboxWorker
from tests.factories import make_conversation
from tests.telegram.conftest import outbox_rows
from tests.telegram.test_topic_effects import enqueue


async def test_bot_requests_time_out_in_20_seconds(tg, client_a) -> None:
    bots = BotRegistry(tg.base)
    try:
        bot = bots.bot_for(client_a)
        assert bot is not None and bot.session.timeout == REQUEST_TIMEOUT == 20
    finally:
        await bots.close()


def test_the_lease_outlasts_the_worst_single_message_delivery() -> None:
    # 5 Bot API requests (topic, send, topic again, send again, pin) + waits and recorded steps
    worst_telegram = 5 * REQUEST_TIMEOUT + 2 * 1.0 + 3 * 4.0
    assert worst_telegram < outbox_worker.DEADLINE.total_seconds()
    assert outbox_worker.LEASE - outbox_worker.DEADLINE >= timedelta(minutes=1)


class Stuck:
    """A sender whose peer never answers."""

    async def deliver(self, delivery: Delivery) -> DeliveryOutcome:
        await asyncio.sleep(3600)
        return DeliveryOutcome.sent()


async def test_a_delivery_past_its_deadline_is_cut_and_retried(db, database_dsn, client_a) -> None:
    conv = await make_conversation(db, client_a.id, "77011112233@s.whatsapp.net")
    await enqueue(db, client_a.id, Mirror(conv, ("алло",)), "m-stuck")
    worker = OutboxWorker(db, database_dsn, {"telegram": Stuck()},
                          deadline=timedelta(seconds=0.2))
    assert await asyncio.wait_for(worker.run_once(), 5) == 1
    (row,) = await outbox_rows(db)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert "longer than 0.2 s" in row["last_error"]
