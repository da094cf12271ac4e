"""The operator's view: the app against the fake ChatFlow (tests/whatsapp) and a fake Telegram
Bot API (tests/telegram) whose chats the alerts go to."""

from __future__ import annotations

import pytest

from tests.telegram.conftest import client_a, serve_fake, start_app, tg_settings
from tests.telegram.fakes import FakeTelegram
from tests.whatsapp.conftest import demo, wa_settings

__all__ = ["client_a", "demo", "start_app", "tg_settings", "wa_settings"]

ALERT_TOKEN = "333333:AAfake-token-for-the-alerts_0123456789"
ALERT_CHAT = -1009999999999


@pytest.fixture
async def tg(aiohttp_server) -> FakeTelegram:
    return await serve_fake(aiohttp_server, FakeTelegram())


def alerts_sent(tg: FakeTelegram) -> list[str]:
    """The texts the operator's alert chat got."""
    return [c.params["text"] for c in tg.of("sendMessage", token=ALERT_TOKEN)
            if int(c.params["chat_id"]) == ALERT_CHAT]
