"""Telegram's 429 (flood control) is a deferral, not a failure: the row comes back after
`retry_after` without using up an attempt, and the chat is held back that long so that its other
rows do not draw more 429s."""

from __future__ import annotations

import pytest

from channels.telegram.bots import BotRegistry
from channels.telegram.ratelimit import ChatRateLimiter, RateLimits
from channels.telegram.sender import TelegramSender
from core.outbound import Mirror
from gateway.outbox_worker import OutboxWorker
from storage.repositories.desk import PgDeskRecords
from storage.store import PgDeliveryProgress, PgStore, PgTenants
from tests.factories import make_conversation
from tests.telegram.conftest import open_request, outbox_rows
from tests.telegram.fakes import GROUP_A
from tests.telegram.test_topic_effects import enqueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def flood_desk(db, database_dsn: str, tg):
    """A hand-driven desk whose rate limiter runs on a clock the test moves."""
    clock = Clock()
    bots = BotRegistry(tg.base)
    limiter = ChatRateLimiter(RateLimits(min_interval=0, per_minute=10_000), clock=clock)
    worker = OutboxWorker(db, database_dsn, {"telegram": TelegramSender(
        bots, PgDeskRecords(db), PgDeliveryProgress(db), PgTenants(db), limiter)},
        store=PgStore(db), tenants=PgTenants(db))

    class FloodDesk:
        async def run(self) -> int:
            total = 0
            while handled := await worker.run_once():
                total += handled
            return total

        async def later(self, seconds: float) -> None:
            clock.now += seconds
            await db.execute("UPDATE outbox SET next_attempt_at = now() WHERE status = 'pending'")

    yield FloodDesk()
    await bots.close()


async def test_eight_429s_still_deliver_the_card(db, flood_desk, tg, client_a) -> None:
    await open_request(db, client_a)
    tg.fail("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5, times=8)
    await flood_desk.run()
    for _ in range(8):
        (row,) = await outbox_rows(db)
        assert row["status"] == "pending" and "flood" in row["last_error"]
        assert row["attempts"] == 0  # a deferral uses no attempt
        wait = await db.fetchval("SELECT extract(epoch FROM next_attempt_at - now()) FROM outbox")
        assert 4 <= wait <= 6
        await flood_desk.later(5)
        await flood_desk.run()

    (row,) = await outbox_rows(db)
    assert row["status"] == "sent" and row["attempts"] == 1
    assert len(tg.of("sendMessage")) == 9
    assert len(tg.of("createForumTopic")) == 1
    assert len(tg.of("pinChatMessage")) == 1
    assert await db.fetchval("SELECT telegram_message_id FROM handovers") is not None


async def test_after_a_429_the_chat_is_held_back(db, flood_desk, tg, client_a) -> None:
    escalation = await open_request(db, client_a)
    tg.fail("sendMessage", 429, "Too Many Requests: retry after 30", retry_after=30)
    await flood_desk.run()
    sends = len(tg.of("sendMessage"))
    other = await make_conversation(db, client_a.id, "77019999999@s.whatsapp.net")
    await db.execute("UPDATE conversations SET telegram_chat_id = $1, telegram_topic_id = 99 "
                     "WHERE id = $2", GROUP_A, other)
    await enqueue(db, client_a.id, Mirror(other, ("алло",)), "m-other")
    await flood_desk.later(10)  # due again, but Telegram's 30 s have not passed
    await flood_desk.run()
    assert len(tg.of("sendMessage")) == sends  # neither row went to Telegram
    rows = await outbox_rows(db)
    assert [r["status"] for r in rows] == ["pending", "pending"]
    assert all(r["attempts"] == 0 for r in rows)
    assert "send limit" in rows[1]["last_error"]

    await flood_desk.later(21)
    await flood_desk.run()
    assert [r["status"] for r in await outbox_rows(db)] == ["sent", "sent"]
    assert escalation.created
