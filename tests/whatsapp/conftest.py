"""An app wired to fake ChatFlow / OpenAI servers, with a client whose debounce is off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from core.knowledge import KnowledgeBase
from gateway.app import create_app
from gateway.keys import KNOWLEDGE
from gateway.settings import Settings
from tests.factories import WEBHOOK_SECRET, make_client
from tests.fakes import FakeChatFlow, wait_for

JID = "77011234567@s.whatsapp.net"


# Nothing listens there: the demo client's desk is configured (so requests for a person open
# handovers) but Telegram itself is not part of these tests (see tests/telegram).
CLOSED_PORT_URL = "http://127.0.0.1:9"


@pytest.fixture
def wa_settings(settings: Settings, chatflow: FakeChatFlow) -> Settings:
    return settings.model_copy(update={
        "chatflow_api_base": str(chatflow.server.make_url("")).rstrip("/"), "workers": 4,
        "telegram_api_base": CLOSED_PORT_URL})


@pytest.fixture
def start_app(db, aiohttp_client) -> Callable[..., Any]:
    async def start(settings: Settings) -> TestClient:
        return await started(await aiohttp_client(create_app(settings)))
    return start


@pytest.fixture
async def demo(db) -> Any:
    return await make_client(db, "demo_salon", debounce_seconds=0, telegram_bot_token="1:test",
                             telegram_chat_id=-1001)


async def started(client: TestClient) -> TestClient:
    """The app once its knowledge base is open and settled (the gateway opens it in the
    background and answers without it meanwhile; the tests want it from the first message)."""
    await wait_for(lambda: client.app[KNOWLEDGE].settled, timeout=60)
    return client


def knowledge_of(client: TestClient) -> KnowledgeBase:
    kb = client.app[KNOWLEDGE].current
    assert kb is not None
    return kb


def text_payload(text: str, message_id: str, jid: str = JID, sender: str = "Айгерим") -> dict:
    return {"messageType": "text", "message": text,
            "metadata": {"sender": sender, "timestamp": 1764929737, "messageId": message_id,
                         "remoteJid": jid},
            "mediaData": None,
            "nodeData": {"webHook": {"text": "https://x/webhook/demo_salon", "method": "POST"}}}


async def post(client: TestClient, payload: Any, slug: str = "demo_salon", **params: str):
    return await client.post(f"/webhook/{slug}", json=payload,
                             params={"webhook_secret": WEBHOOK_SECRET, **params})


__all__ = ["JID", "TestServer", "post", "text_payload"]
