"""A flood (issue 11 items 4 and 6) through the running app: one customer of tenant X sends 300
long messages while the model is busy with their first turn; another customer of X and a
customer of tenant Y write once each.

Asserted on counts and order, not on time: both are answered while every one of the flood's 300
messages still waits (none of its later turns has run); every message of X ends in the
history, in order; X's turns each carry at most 20 messages and 4,000 characters, and the LLM
and the embedder are asked once per turn with capped input; X gets one "please wait" note.
The figures are printed (`pytest -n 0 -s`) for the README."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from core.knowledge_ports import Embedder
from core.texts import CUSTOMER_DEFAULTS
from tests.factories import make_client
from tests.fakes import FakeOpenAI, wait_for
from tests.whatsapp.conftest import knowledge_of, post, text_payload

MESSAGES = 300
X_JID = "77010000001@s.whatsapp.net"
X2_JID = "77010000003@s.whatsapp.net"  # another customer of the same client
Y_JID = "77020000002@s.whatsapp.net"
QUESTION = "Здравствуйте! Подскажите, пожалуйста, сколько стоит маникюр с покрытием и есть ли окна "
MAX_EVENTS, MAX_CHARS = 20, 4000  # the defaults (core.flood)


def long_message(n: int) -> str:
    """≈ 4,000 characters (the channel's limit is 4,096), each message its own."""
    return f"[{n}] " + (QUESTION * 50)[:3990]


def flooded(body: dict[str, Any]) -> bool:
    """An answer request for the flooding customer (their texts ask about free slots)."""
    return "окна" in body["messages"][-1]["content"] and \
        "You classify one customer message" not in body["messages"][0]["content"]


class GatedOpenAI(FakeOpenAI):
    """Holds the flooding customer's answer requests until `gate` opens: their first turn is
    still with the model while the rest of the flood arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.held = 0

    async def _completions(self, request: web.Request) -> web.Response:
        if flooded(await request.json()):
            self.held += 1
            await self.gate.wait()
        return await super()._completions(request)


class CountingEmbedder:
    """The knowledge base's embedder, counting what it is asked (the model still runs)."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self.name, self.dim, self.thresholds = inner.name, inner.dim, inner.thresholds
        self.queries: list[str] = []

    async def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        self.queries.extend(texts)
        return await self._inner.embed_queries(texts)

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return await self._inner.embed_passages(texts)

    async def aclose(self) -> None:
        await self._inner.aclose()


def to(chatflow: Any, jid: str) -> list[str]:
    return [c["msg"] for c in chatflow.delivered() if c.get("jid") == jid]


async def test_one_customers_flood_is_merged_capped_and_delays_no_one(
        start_app, wa_settings, db, chatflow, aiohttp_server) -> None:
    llm = GatedOpenAI()
    llm.server = await aiohttp_server(llm.app)
    await make_client(db, "flood_x", debounce_seconds=0)
    await make_client(db, "flood_y", debounce_seconds=0)
    client = await start_app(wa_settings.model_copy(update={
        "openai_base_url": str(llm.server.make_url("/v1")), "openai_api_key": SecretStr("sk-test"),
        "llm_timeout_seconds": 300}))
    kb = knowledge_of(client)
    embedder = kb.embedder = CountingEmbedder(kb.embedder)  # type: ignore[assignment]

    for n in range(MESSAGES):
        response = await post(client, text_payload(long_message(n), f"X-{n}", jid=X_JID),
                              slug="flood_x")
        assert response.status == 200
    await wait_for(lambda: llm.held == 1, timeout=60)  # X's first turn is with the model
    await post(client, text_payload("Сколько стоит маникюр?", "Y-1", jid=Y_JID), slug="flood_y")
    await post(client, text_payload("Сколько стоит педикюр?", "X2-1", jid=X2_JID), slug="flood_x")
    await wait_for(lambda: to(chatflow, Y_JID) and to(chatflow, X2_JID), timeout=60)

    # both were answered while the flood waits: its first turn (the first message or few) is
    # still with the model, none of its later turns has run
    flood = await db.fetchval("""SELECT c.id FROM conversations c JOIN users u ON u.id = c.user_id
                                  WHERE u.remote_jid = $1""", X_JID)
    x_waiting = await db.fetchval("""SELECT count(*) FROM inbound_events
                                      WHERE conversation_id = $1 AND status <> 'done'""", flood)
    assert x_waiting == MESSAGES and llm.held == 1
    assert to(chatflow, X_JID) == []

    llm.gate.set()
    await wait_for(lambda: db.fetchval(
        "SELECT count(*) = 0 FROM inbound_events WHERE status <> 'done'"), timeout=240)
    await wait_for(lambda: db.fetchval("SELECT count(*) = 0 FROM outbox WHERE status <> 'sent'"),
                   timeout=60)

    history = await db.fetch("""SELECT content FROM messages WHERE conversation_id = $1
                                   AND role = 'user' ORDER BY id""", flood)
    assert [r["content"] for r in history] == [long_message(n) for n in range(MESSAGES)]

    # one turn, one reply: the turns are known by their reply's key (the turn's first event)
    keys = [r["idempotency_key"] for r in await db.fetch(
        "SELECT idempotency_key FROM outbox WHERE idempotency_key LIKE $1 ORDER BY id",
        f"reply:{flood}:%")]
    first_events = sorted(int(re.search(r":e(\d+)$", k).group(1)) for k in keys)  # type: ignore[union-attr]
    last_event = await db.fetchval(
        "SELECT max(id) FROM inbound_events WHERE conversation_id = $1", flood)
    sizes = [b - a for a, b in zip(first_events, [*first_events[1:], last_event + 1], strict=True)]
    assert sum(sizes) == MESSAGES and max(sizes) <= MAX_EVENTS
    turns = len(keys)

    x_answers = [r for r in llm.requests if flooded(r)]
    classifications = len(llm.requests) - len(llm.answer_requests())
    assert len(x_answers) == turns  # the LLM answered each turn once
    assert all(len(r["messages"][-1]["content"]) <= MAX_CHARS for r in x_answers)
    prompt_chars = max(sum(len(m["content"]) for m in r["messages"]) for r in x_answers)
    assert prompt_chars <= 16_000
    # the flood's turns (its messages start "[n] "); the decision corpus, embedded through the
    # same embedder when the model opens late, has a message about free slots too
    x_queries = [q for q in embedder.queries if q.startswith("[") and "окна" in q]
    assert len(x_queries) <= turns and all(len(q) <= 1000 for q in x_queries)

    notes = to(chatflow, X_JID).count(CUSTOMER_DEFAULTS["flood_notice"])
    assert notes == 1
    assert len(to(chatflow, Y_JID)) == len(to(chatflow, X2_JID)) == 1
    print(f"\nflood: {MESSAGES} messages of ~{len(long_message(0))} characters from one customer "
          f"-> {turns} turns (at most {max(sizes)} messages each), {len(x_answers)} LLM answers "
          f"+ {classifications} classifications, {len(x_queries)} embeddings of <= "
          f"{max(map(len, x_queries), default=0)} characters, largest prompt {prompt_chars} "
          f"characters, {notes} please-wait note; another customer of the client and one of "
          f"another tenant answered while all {x_waiting} of them waited")
