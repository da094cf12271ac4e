"""The compose stack's first start (issue 11): TEI still downloading its model answers 503, and
the gateway already accepts webhooks and replies without knowledge; once TEI answers, the
knowledge base opens by itself and `/ready` says so; and says it is still settling while a first
start loads the demo knowledge."""

from __future__ import annotations

import asyncio

from gateway import demo
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
    await wait_for(lambda: client.app[KNOWLEDGE].settled, timeout=30)
    assert (await (await client.get("/ready")).json())["checks"]["knowledge"]["status"] == "ok"


async def test_ready_says_the_knowledge_is_settling_while_the_demo_knowledge_loads(
        settings, db, aiohttp_client, monkeypatch) -> None:
    release = asyncio.Event()
    load = demo.load_demo_knowledge

    async def held_load(pool, kb):
        await release.wait()
        return await load(pool, kb)

    monkeypatch.setattr(demo, "load_demo_knowledge", held_load)  # the wiring imports it when used
    client = await aiohttp_client(create_app(settings.model_copy(update={"demo_seed": True})))
    await wait_for(lambda: client.app[KNOWLEDGE].current, timeout=60)
    knowledge = (await (await client.get("/ready")).json())["checks"]["knowledge"]
    assert (knowledge["status"], knowledge["points"]) == ("degraded", 0)
    assert knowledge["error"] == "open, finishing its start"

    release.set()
    await wait_for(lambda: client.app[KNOWLEDGE].settled, timeout=60)
    knowledge = (await (await client.get("/ready")).json())["checks"]["knowledge"]
    assert knowledge["status"] == "ok" and knowledge["points"] > 50  # the demo salon's
