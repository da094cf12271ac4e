"""The gateway's peers for the reliability suites, as real local aiohttp servers on fixed
ports that can go down and come back: the fake ChatFlow, Telegram Bot API and OpenAI of
`tests/fakes.py` and `tests/telegram/fakes.py`, and a text-embeddings-inference server.

A peer is down in one of two ways: it answers 502 to everything (a proxy in front of a dead
service), or it is not listening at all (connections refused); it comes back on the same port."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fakes import FakeChatFlow, FakeOpenAI
from tests.telegram.fakes import FakeTelegram

TEI_DIM = 32


def tei_vector(text: str) -> list[float]:
    """A deterministic vector per text (no model behind it: the suites test delivery, not
    meaning)."""
    seed = hashlib.sha256(text.encode()).digest()
    return [(seed[i] - 128) / 128.0 for i in range(TEI_DIM)]


class FakeTei:
    """`POST /embed {"inputs": [...]}` → one vector per input; counts the texts embedded."""

    def __init__(self) -> None:
        self.embedded = 0
        self.app = web.Application()
        self.app.router.add_post("/embed", self._embed)

    async def _embed(self, request: web.Request) -> web.Response:
        inputs = (await request.json())["inputs"]
        self.embedded += len(inputs)
        return web.json_response([tei_vector(text) for text in inputs])


class Down(StrEnum):
    BAD_GATEWAY = "502"  # answers 502 Bad Gateway to every request
    REFUSED = "refused"  # not listening: connections are refused


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Answered:
    """A request the fake answered 200 to, and when (monotonic)."""

    at: float
    path: str
    params: dict[str, Any]


class Peer:
    """One fake on 127.0.0.1 that can be taken down and brought back (`down`, `up`). `failed`
    counts the requests it turned away with a 502; `answered` lists those it answered 200."""

    def __init__(self, name: str, app: web.Application) -> None:
        self.name = name
        self.app = app
        self.outage: Down | None = None
        self.failed = 0
        self.answered: list[Answered] = []
        app.middlewares.append(self._switch)
        self._server = TestServer(app, host="127.0.0.1")
        self._port: int | None = None

    async def start(self) -> None:
        if self._port is not None:  # back on the same port after a refusal
            self._server = TestServer(self.app, host="127.0.0.1", port=self._port)
        await self._server.start_server()
        self._port = self._server.port

    async def close(self) -> None:
        await self._server.close()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self._port}{path}"

    async def down(self, how: Down) -> None:
        self.outage = how
        if how is Down.REFUSED:
            await self._server.close()

    async def up(self) -> None:
        if self.outage is Down.REFUSED:
            await self.start()
        self.outage = None

    @web.middleware
    async def _switch(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.outage is not None:
            self.failed += 1
            return web.Response(status=502, text="Bad Gateway")
        response = await handler(request)
        if response.status == 200:
            params: dict[str, Any] = dict(request.query)
            if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
                params.update(await request.post())  # read by the handler already: cached
            self.answered.append(Answered(time.monotonic(), request.path, params))
        return response


class Peers:
    """The fakes, started together."""

    def __init__(self) -> None:
        self.chatflow = FakeChatFlow()
        self.telegram = FakeTelegram(poll_wait=0.2)
        self.openai = FakeOpenAI(reply="Маникюр стоит 5000 ₸, запишитесь на удобное время.")
        self.tei = FakeTei()
        self.by_name = {name: Peer(name, fake.app) for name, fake in (
            ("chatflow", self.chatflow), ("telegram", self.telegram), ("llm", self.openai),
            ("embedder", self.tei))}
        # A Qdrant server that is never up: the address of one, answering 502 (a faithful fake
        # of its REST API is not feasible here; the gateway is tested without one)
        self.by_name["qdrant"] = Peer("qdrant", web.Application())
        self.by_name["qdrant"].outage = Down.BAD_GATEWAY

    async def start(self) -> None:
        for peer in self.by_name.values():
            await peer.start()

    async def close(self) -> None:
        for peer in self.by_name.values():
            await peer.close()

    def __getitem__(self, name: str) -> Peer:
        return self.by_name[name]

    def env(self) -> dict[str, str]:
        """The gateway's environment that points it at these fakes."""
        return {
            "CHATFLOW_API_BASE": self["chatflow"].url(),
            "TELEGRAM_API_BASE": self["telegram"].url(),
            "OPENAI_BASE_URL": self["llm"].url("/v1"), "OPENAI_API_KEY": "sk-fake-for-tests",
            "EMBEDDINGS_PROVIDER": "tei", "EMBEDDINGS_URL": self["embedder"].url(),
            "EMBEDDINGS_MODEL": "fake-tei",
        }
