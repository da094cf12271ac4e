"""Instant fake peers for the benchmarks, as real local HTTP servers: ChatFlow (records when
each reply arrives), text-embeddings-inference (a deterministic vector per text, BGE-M3's 1024
dimensions) and an OpenAI-compatible chat model (answers at once, or after `llm_seconds`: the time
a real model takes)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

DIM = 1024


def vector(text: str) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    return [(seed[i % 32] - 128) / 128.0 for i in range(DIM)]


class Peers:
    def __init__(self, llm_seconds: float = 0.0) -> None:
        self._llm_seconds = llm_seconds
        self.replies: dict[str, float] = {}  # jid → when its reply arrived (perf_counter)
        self.reply_count = 0
        app = web.Application()
        app.router.add_get("/chatflow/send-text", self._send_text)
        app.router.add_post("/tei/embed", self._embed)
        app.router.add_post("/openai/v1/chat/completions", self._complete)
        app.router.add_get("/openai/v1/models", self._models)
        self._server = TestServer(app, host="127.0.0.1")

    async def start(self) -> None:
        await self._server.start_server()

    async def close(self) -> None:
        await self._server.close()

    def url(self, path: str) -> str:
        return str(self._server.make_url(path)).rstrip("/")

    async def _send_text(self, request: web.Request) -> web.Response:
        self.replies[request.query["jid"]] = time.perf_counter()
        self.reply_count += 1
        return web.json_response({"success": True, "id": request.query.get("msg_id")})

    async def _embed(self, request: web.Request) -> web.Response:
        inputs = (await request.json())["inputs"]
        # orjson, as a real server writes its vectors in native code: the json module's 0.2 ms
        # a 1,024-float vector would be this process's CPU on the machine the gateway measures on
        return web.Response(body=orjson.dumps([vector(text) for text in inputs]),
                            content_type="application/json")

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "bench"}]})

    async def _complete(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        if self._llm_seconds:
            await asyncio.sleep(self._llm_seconds)
        classify = "classify" in body["messages"][0]["content"]
        content = json.dumps({"intent": "question", "topic": None}) if classify else \
            "Да, конечно: запишитесь на удобное время, мы будем рады вас видеть."
        return web.json_response({
            "id": "bench", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "gpt-4o-mini"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
