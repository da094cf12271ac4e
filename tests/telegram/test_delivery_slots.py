"""Telegram's per-chat send limit must not hold the delivery slots every tenant and channel
shares: a send that would wait for its turn is deferred (without using up an attempt)."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from channels.chatflow.client import ChatFlowClient, WhatsAppSender
from channels.telegram.bots import BotRegistry
from channels.telegram.ratelimit import ChatRateLimiter, RateLimited, RateLimits
from channels.telegram.sender import TelegramSender
from core.outbound import CustomerText, Mirror
from gateway.outbox_worker import OutboxWorker
from storage.repositories.desk import PgDeskRecords
from storage.store import PgDeliveryProgress, PgStore, PgTenants
from tests.factories import make_client, make_conversation
from tests.fakes import FakeChatFlow
from tests.telegram.conftest import outbox_rows
from tests.telegram.fakes import FakeTelegram


async def enqueue(db, client_id, message, key: str) -> None:
    async with PgStore(db).transaction() as tx:
        await tx.outbox.enqueue(client_id, message, key)


async def test_a_busy_group_does_not_block_whatsapp_replies(
        db, database_dsn: str, tg: FakeTelegram, chatflow: FakeChatFlow, client_a) -> None:
    other = await make_client(db, "clinic")  # another tenant, WhatsApp only
    burst = 6
    for n in range(burst):  # many customers of one group write at once
        conv = await make_conversation(db, client_a.id, f"7701000000{n}@s.whatsapp.net")
        await enqueue(db, client_a.id, Mirror(conv, (f"msg {n}",)), f"mirror:{n}")
    customer = await make_conversation(db, other.id, "77029999999@s.whatsapp.net")
    await enqueue(db, other.id, CustomerText(customer, "77029999999@s.whatsapp.net", "Здравствуйте!"),
                  "reply:1")

    bots = BotRegistry(tg.base)
    limiter = ChatRateLimiter(RateLimits(min_interval=0, per_minute=2, max_wait=1.0))
    async with aiohttp.ClientSession() as http:
        senders = {
            "telegram": TelegramSender(bots, PgDeskRecords(db), PgDeliveryProgress(db), PgTenants(db),
                                       limiter),
            "whatsapp": WhatsAppSender(
                ChatFlowClient(http, str(chatflow.server.make_url("")).rstrip("/")),
                PgTenants(db), None),
        }
        worker = OutboxWorker(db, database_dsn, senders, store=PgStore(db), tenants=PgTenants(db),
                              concurrency=2)
        started = time.monotonic()
        await worker.start()
        try:
            while not chatflow.delivered() and time.monotonic() - started < 40:
                await asyncio.sleep(0.05)
            waited = time.monotonic() - started
        finally:
            await worker.stop()
            await bots.close()

    assert [c["msg"] for c in chatflow.delivered()] == ["Здравствуйте!"]
    # not behind the group's minute window (the sends it could not make now are deferred);
    # within a second on a quiet machine, the margin is for a busy one
    assert waited < 30
    assert len(tg.of("sendMessage")) == 2  # the group's limit held
    rows = await outbox_rows(db, "telegram")
    assert sorted(r["status"] for r in rows) == ["pending"] * (burst - 2) + ["sent"] * 2
    for row in rows:
        if row["status"] == "pending":  # deferred until the window has room, no attempt used
            assert row["attempts"] == 0
            assert "send limit" in row["last_error"]
            assert await db.fetchval("SELECT $1 - now() > interval '30 seconds'",
                                     row["next_attempt_at"])


def test_the_limiter_defers_rather_than_waits_long() -> None:
    limiter = ChatRateLimiter(RateLimits(min_interval=0.5, per_minute=3, max_wait=1.0))
    limiter.reserve(1, 3, max_wait=1.0)  # a burst of three spaced 0.5 s: within the spacing
    try:
        limiter.reserve(1, max_wait=1.0)
    except RateLimited as exc:  # the fourth needs the minute window
        assert 58 < exc.retry_after <= 60
    else:
        raise AssertionError("expected RateLimited")
    assert limiter.reserve(2, max_wait=1.0)  # another chat is not held up
    limiter.reserve(3, max_wait=1.0)
    try:  # a series that would stall in the middle for the window is refused whole
        limiter.reserve(3, 3, max_wait=1.0)
    except RateLimited:
        pass
    else:
        raise AssertionError("expected RateLimited")
    assert len(limiter.reserve(3, 2, max_wait=1.0)) == 2  # the refusal booked nothing
