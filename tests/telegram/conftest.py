"""The desk against a fake Bot API server and the fake ChatFlow: sender-level fixtures (the
outbox worker driven by hand) and an app fixture (polling bots, the real workers)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from channels.telegram.bots import BotRegistry
from channels.telegram.ratelimit import ChatRateLimiter, RateLimits
from channels.telegram.sender import TelegramSender
from core.escalation import Escalation, escalate
from core.models import Client, Role, TriggerType
from gateway.app import create_app
from gateway.keys import SERVING
from gateway.outbox_worker import OutboxWorker
from gateway.settings import Settings
from storage.repositories.desk import PgDeskRecords
from storage.store import PgDeliveryProgress, PgStore, PgTenants
from tests.factories import ManualClock, make_client, make_conversation
from tests.fakes import FakeChatFlow, wait_for
from tests.telegram.fakes import GROUP_A, GROUP_B, OWNER, TOKEN_A, TOKEN_B, FakeTelegram
from tests.whatsapp.conftest import started

JID = "77011234567@s.whatsapp.net"
FAST = RateLimits(min_interval=0, per_minute=10_000)


async def serve_fake(aiohttp_server, fake: FakeTelegram) -> FakeTelegram:
    """Start a fake Bot API (or a subclass of it) on a local port; `fake.base` is its URL."""
    fake.server = await aiohttp_server(fake.app)
    fake.base = str(fake.server.make_url("")).rstrip("/")
    return fake


@pytest.fixture
async def tg(aiohttp_server) -> FakeTelegram:
    return await serve_fake(aiohttp_server, FakeTelegram())


async def wait_handled(db, update: dict) -> None:
    """Until the gateway has finished handling this pushed update."""
    await wait_for(lambda: db.fetchval(
        "SELECT processed_at IS NOT NULL FROM telegram_updates WHERE update_id = $1",
        update["update_id"]))


@pytest.fixture
def tg_settings(settings: Settings, tg: FakeTelegram, chatflow: FakeChatFlow) -> Settings:
    return settings.model_copy(update={
        "telegram_api_base": tg.base, "telegram_min_send_interval": 0,
        "telegram_sends_per_minute": 10_000, "telegram_rescan_seconds": 0.1,
        "telegram_poll_timeout": 1,
        "chatflow_api_base": str(chatflow.server.make_url("")).rstrip("/"),
        "public_base_url": "http://gateway.test",
    })


@pytest.fixture
async def client_a(db) -> Client:
    return await make_client(db, "salon_a", telegram_bot_token=TOKEN_A, telegram_chat_id=GROUP_A,
                             owner_telegram_ids=[OWNER["id"]], debounce_seconds=0)


@pytest.fixture
async def client_b(db) -> Client:
    return await make_client(db, "salon_b", telegram_bot_token=TOKEN_B, telegram_chat_id=GROUP_B,
                             debounce_seconds=0)


async def open_request(db, client: Client, text: str = "Позовите менеджера", *,
                       jid: str = JID, name: str | None = "Айгерим",
                       conversation_id: UUID | None = None,
                       trigger_value: str = "human_request") -> Escalation:
    """A customer conversation (made on first use) escalated as the pipeline would."""
    if conversation_id is None:
        conversation_id = await make_conversation(db, client.id, jid)
        await db.execute("UPDATE users SET name = $2 WHERE remote_jid = $1", jid, name)
    async with PgStore(db).transaction() as tx:
        await tx.messages.add(conversation_id, Role.USER, text)
        return await escalate(tx, conversation_id, trigger_type=TriggerType.INTENT,
                              trigger_value=trigger_value, user_message=text)


@pytest.fixture
async def desk(db, database_dsn: str, tg: FakeTelegram):
    """The Telegram sender behind an outbox worker driven by hand (`await desk.run()`)."""
    bots = BotRegistry(tg.base)
    sender = TelegramSender(bots, PgDeskRecords(db), PgDeliveryProgress(db), PgTenants(db),
                            ChatRateLimiter(FAST))
    worker = OutboxWorker(db, database_dsn, {"telegram": sender}, store=PgStore(db),
                          tenants=PgTenants(db))

    class Desk:
        async def run(self) -> int:
            """Deliver every due row, in as many rounds as it takes."""
            total = 0
            while handled := await worker.run_once():
                total += handled
            return total

        async def make_due(self) -> None:
            """Time passes: every waiting retry is due now."""
            await db.execute("UPDATE outbox SET next_attempt_at = now() WHERE status = 'pending'")

    yield Desk()
    await bots.close()


@pytest.fixture
def start_app(tg, chatflow, db, aiohttp_client) -> Callable[..., Any]:
    """Starts the app; the fake peers are set up first so that they outlive it."""
    async def start(settings: Settings) -> TestClient:
        return await started(await aiohttp_client(create_app(settings)))
    return start


async def outbox_rows(db, channel: str | None = None) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT * FROM outbox WHERE $1::text IS NULL OR channel = $1 ORDER BY id",
                          channel)
    return [dict(r) for r in rows]


async def running_desk(client: TestClient) -> Any:
    """The app's Telegram desk, once started (it starts when a client has a bot)."""
    return await wait_for(lambda: client.app[SERVING].desk)


def report_clock() -> tuple[str, ManualClock]:
    """A daily report time an hour from now (its 24 hours hold everything a test does now), and
    a clock a minute past it."""
    at = (datetime.now(ZoneInfo("Asia/Almaty")) + timedelta(hours=1)).replace(second=0,
                                                                              microsecond=0)
    return at.strftime("%H:%M"), ManualClock(at + timedelta(minutes=1))


async def report_time_seen(tenants, client_id: UUID, at: str) -> bool:
    """Whether the report pass's own read of the clients (cached until the change is announced)
    has the report time `at`."""
    return any(c.id == client_id and c.settings.daily_report_time == at
               for c in await tenants.all_clients())
