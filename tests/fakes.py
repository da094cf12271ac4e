"""Fake external peers as real local aiohttp servers speaking their protocols: ChatFlow's send API
(and the media links of its inbound messages) and an OpenAI-compatible API (chat completions,
audio transcriptions)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Scripted:
    """Responses to hand out in order; when empty, the default."""

    queue: list[tuple[int, Any]] = field(default_factory=list)
    default: tuple[int, Any] = (200, {"success": True})

    def next(self) -> tuple[int, Any]:
        return self.queue.pop(0) if self.queue else self.default


class FakeChatFlow:
    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []
        self.script = Scripted()
        self.seen_msg_ids: set[str] = set()
        self.media: dict[str, bytes] = {}  # served at /media/{name}, as a customer's file
        self.app = web.Application()
        for endpoint in ("send-text", "send-image", "send-audio", "send-doc", "send-video"):
            self.app.router.add_get(f"/{endpoint}", self._handler(endpoint))
        self.app.router.add_get("/media/{name}", self._media)

    def media_url(self, name: str, content: bytes = b"OggS-voice-note") -> str:
        """A link to a customer's file, as ChatFlow puts it in `mediaData.url`."""
        self.media[name] = content
        return str(self.server.make_url(f"/media/{name}"))

    async def _media(self, request: web.Request) -> web.Response:
        content = self.media.get(request.match_info["name"])
        if content is None:
            return web.Response(status=404)
        return web.Response(body=content, content_type="audio/ogg")

    def _handler(self, endpoint: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            status, body = self.script.next()
            call = {"endpoint": endpoint, **request.query}
            self.calls.append({**call, "status": str(status)})
            if status == 200 and isinstance(body, dict) and body.get("success") is not False:
                self.seen_msg_ids.add(request.query.get("msg_id", ""))
            return web.json_response(body, status=status)
        return handle

    def delivered(self) -> list[dict[str, str]]:
        """Calls that ChatFlow accepted, one per distinct msg_id (its idempotency)."""
        seen: dict[str, dict[str, str]] = {}
        for call in self.calls:
            if call["status"] == "200" and call.get("msg_id") in self.seen_msg_ids:
                seen.setdefault(call["msg_id"], call)
        return list(seen.values())


class FakeOpenAI:
    """`POST /v1/chat/completions`: answers `reply` (or a JSON intent for classification
    requests), or a scripted failure; `delay` simulates a slow model.
    `POST /v1/audio/transcriptions` (multipart: `file`, `model`): answers the next of
    `transcripts` (else `transcript`), or `fail_transcription_with` (an HTTP status)."""

    def __init__(self, reply: str = "Маникюр стоит 5000 ₸.") -> None:
        self.reply = reply
        # A classification request gets this: a dict as JSON, a str as it is, None as a refusal.
        self.classification: dict[str, Any] | str | None = {"intent": "question", "topic": None}
        self.classification_delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # of each completion request
        self.intervals: list[tuple[float, float]] = []  # (start, end) of each answer request
        self.fail_with: int | None = None
        self.delay = 0.0
        self.usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        self.transcript = "Сколько стоит маникюр?"
        self.transcripts: list[str] = []
        self.transcriptions: list[dict[str, Any]] = []  # model, filename, content type, bytes
        self.fail_transcription_with: int | None = None
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self._completions)
        self.app.router.add_post("/v1/audio/transcriptions", self._transcriptions)
        self.app.router.add_get("/v1/models", self._models)

    async def _models(self, request: web.Request) -> web.Response:
        if self.fail_with:
            return web.json_response({"error": {"message": "boom"}}, status=self.fail_with)
        return web.json_response({"object": "list", "data": [
            {"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "fake"}]})

    async def _completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        started = time.monotonic()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_with:
            return web.json_response({"error": {"message": "boom", "type": "server_error"}},
                                     status=self.fail_with)
        system = body["messages"][0]["content"]
        is_classification = "You classify one customer message" in system
        if not is_classification:
            self.intervals.append((started, time.monotonic()))
        message: dict[str, Any] = {"role": "assistant", "content": self.reply}
        if is_classification:
            await asyncio.sleep(self.classification_delay)
            scripted = self.classification
            message["content"] = json.dumps(scripted) if isinstance(scripted, dict) else scripted
            if scripted is None:
                message["refusal"] = "I'm sorry, I can't help with that."
        return web.json_response({
            "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "gpt-4o-mini"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
            "usage": self.usage,
        })

    async def _transcriptions(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        self.transcriptions.append({
            "model": form.get("model"), "filename": getattr(upload, "filename", None),
            "content_type": getattr(upload, "content_type", None),
            "bytes": upload.file.read() if hasattr(upload, "file") else None})
        if self.fail_transcription_with:
            return web.json_response({"error": {"message": "boom", "type": "server_error"}},
                                     status=self.fail_transcription_with)
        text = self.transcripts.pop(0) if self.transcripts else self.transcript
        return web.json_response({"text": text})

    def answer_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests
                if "You classify one customer message" not in r["messages"][0]["content"]]


async def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll until `predicate()` (sync or async) is truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
