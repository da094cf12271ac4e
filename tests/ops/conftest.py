"""Fixtures of the operations tests: a fake text-embeddings-inference server (fast, switchable
to failing), the fake Bot API (whose chats the operator's alerts go to) and ChatFlow, and
settings pointing at all of them; the WhatsApp and Telegram apps of tests/whatsapp and
tests/telegram."""

from __future__ import annotations

import pytest
from aiohttp import web

from gateway.settings import Settings
from tests.fakes import FakeChatFlow
from tests.knowledge.test_retrieval_eval import fake_vector
from tests.telegram.conftest import client_a, serve_fake, start_app, tg_settings
from tests.telegram.fakes import FakeTelegram
from tests.whatsapp.conftest import demo, wa_settings

__all__ = ["client_a", "demo", "start_app", "tg_settings", "wa_settings"]

ALERT_TOKEN = "333333:AAfake-token-for-the-alerts_0123456789"
ALERT_CHAT = -1009999999999


class FakeTei:
    """`POST /embed` as text-embeddings-inference answers it; `down` makes it answer 503 (as
    while it still downloads its model)."""

    def __init__(self) -> None:
        self.down = False
        self.app = web.Application()
        self.app.router.add_post("/embed", self._embed)

    async def _embed(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503, text="model not loaded yet")
        return web.json_response([fake_vector(t) for t in (await request.json())["inputs"]])


@pytest.fixture
async def tei(aiohttp_server) -> FakeTei:
    fake = FakeTei()
    fake.server = await aiohttp_server(fake.app, host="127.0.0.1")
    fake.url = str(fake.server.make_url("")).rstrip("/")
    return fake


@pytest.fixture
async def tg(aiohttp_server) -> FakeTelegram:
    return await serve_fake(aiohttp_server, FakeTelegram())


@pytest.fixture
def ops_settings(settings: Settings, tei: FakeTei, tg: FakeTelegram,
                 chatflow: FakeChatFlow) -> Settings:
    """Every peer faked: TEI embeddings, the Bot API, ChatFlow; no LLM."""
    return settings.model_copy(update={
        "embeddings_provider": "tei", "embeddings_url": tei.url, "embeddings_model": "fake",
        "telegram_api_base": tg.base,
        "chatflow_api_base": str(chatflow.server.make_url("")).rstrip("/"),
    })


def alerts_sent(tg: FakeTelegram) -> list[str]:
    """The texts the operator's alert chat got."""
    return [c.params["text"] for c in tg.of("sendMessage", token=ALERT_TOKEN)
            if int(c.params["chat_id"]) == ALERT_CHAT]
