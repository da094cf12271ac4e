"""The compose stack's first start (issue 11): TEI still downloading its model answers 503, and
the gateway already accepts webhooks and replies without knowledge; once TEI answers, the
knowledge base opens by itself and `/ready` says so."""

from __future__ import annotations

from gateway.app import create_app
from gateway.keys import KNOWLEDGE
from tests.factories import make_client
from tests.fakes import FakeChatFlow, wait_for
from tests.ops.conftest import FakeTei
from tests.whatsapp.conftest import post, text_payload


async def test_webhooks_are_answered_while_tei_is_still_starting(
        ops_settings, tei: FakeTei, chatflow: FakeChatFlow, db, aiohttp_client) -> None:
    tei.down = True
    await make_client(db, "demo_salon", debounce_seconds=0)
    client = await aiohttp_client(create_app(ops_settings))

    response = await post(client, text_payload("Здравствуйте, сколько стоит маникюр?", "COLD-1"))
    assert response.status == 200
    (reply,) = await wait_for(chatflow.delivered, timeout=30)
    assert reply["jid"].startswith("77011234567") and reply["msg"]
    ready = await client.get("/ready")
    assert ready.status == 200  # not ready for knowledge, yet serving
    assert (await ready.json())["checks"]["knowledge"]["status"] == "degraded"

    tei.down = False  # the model is downloaded
    await wait_for(lambda: client.app[KNOWLEDGE].current, timeout=30)
    assert (await (await client.get("/ready")).json())["checks"]["knowledge"]["status"] == "ok"
