"""Webhook acknowledgement latency and webhook→WhatsApp reply latency, in-process, no LLM.

Starts the real app (on a scratch database, dropped afterwards, on the server BENCH_DATABASE_URL
points at, or an embedded PostgreSQL), a fake ChatFlow on a local port, and posts messages from many
customers at once (debounce 0, the bundled embedder answering from the demo knowledge); then
one message at a time, for the acknowledgement latency of an idle gateway.

    .venv/bin/python benchmarks/webhook_to_reply.py [--customers 50] [--messages 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from gateway.app import create_app
from gateway.demo import DEMO_SLUG
from gateway.keys import DB
from gateway.settings import Settings
from storage.database import scratch_database
from storage.embedded import EmbeddedPostgres
from storage.repositories import clients

QUESTIONS = ["сколько стоит маникюр?", "где вы находитесь?", "до скольки работаете?",
             "есть парковка?", "как записаться?", "сколько стоит педикюр?"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def main(customers: int, messages: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="truffles-bench-"))
    embedded = None
    server_dsn = os.environ.get("BENCH_DATABASE_URL")
    if not server_dsn:
        embedded = EmbeddedPostgres(data_dir)
        server_dsn = await asyncio.to_thread(embedded.start)
    try:
        async with scratch_database(server_dsn, "truffles_bench") as dsn:
            await measure(dsn, data_dir, customers, messages)
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def knowledge_open(server: TestServer, timeout: float = 120.0) -> None:
    """Wait for the knowledge base (the bundled model loads in the background), so the first
    round is not answered without it."""
    deadline = time.perf_counter() + timeout
    async with ClientSession() as http:
        while time.perf_counter() < deadline:
            async with http.get(server.make_url("/ready")) as response:
                checks = (await response.json())["checks"]
            if checks.get("knowledge", {}).get("status") == "ok":
                return
            await asyncio.sleep(0.1)
    raise TimeoutError("the knowledge base did not open")


async def measure(dsn: str, data_dir: Path, customers: int, messages: int) -> None:
    sent_at: dict[str, float] = {}
    replied_at: dict[str, float] = {}

    async def send_text(request: web.Request) -> web.Response:
        replied_at[request.query["jid"]] = time.perf_counter()
        return web.json_response({"success": True})

    fake = web.Application()
    fake.router.add_get("/send-text", send_text)
    chatflow = TestServer(fake)
    await chatflow.start_server()
    settings = Settings(_env_file=None, database_url=dsn, data_dir=data_dir, log_level="WARNING",
                        chatflow_api_base=str(chatflow.make_url("")).rstrip("/"))
    server = TestServer(create_app(settings))
    await server.start_server()
    pool = server.app[DB]
    demo = await clients.by_slug(pool, DEMO_SLUG)
    assert demo is not None
    await clients.update_settings(pool, demo.id, {"debounce_seconds": 0, "chatflow_token": "t",
                                                  "chatflow_instance_id": "i"})
    url = str(server.make_url(f"/webhook/{DEMO_SLUG}"))
    await knowledge_open(server)
    acks: list[float] = []
    turn_latency: list[float] = []
    async with ClientSession() as http:

        async def one(index: int, round_: int) -> None:
            jid = f"7701{index:07d}@s.whatsapp.net"
            body = {"messageType": "text", "message": QUESTIONS[(index + round_) % len(QUESTIONS)],
                    "metadata": {"sender": "bench", "messageId": f"b{round_}-{index}",
                                 "remoteJid": jid, "timestamp": 0}}
            started = time.perf_counter()
            sent_at[jid] = started
            async with http.post(url, json=body,
                                 params={"webhook_secret": demo.settings.webhook_secret}) as r:
                assert r.status == 200, await r.text()
            acks.append(time.perf_counter() - started)

        for round_ in range(messages):
            sent_at.clear()
            replied_at.clear()
            await asyncio.gather(*(one(i, round_) for i in range(customers)))
            deadline = time.perf_counter() + 120
            while len(replied_at) < customers and time.perf_counter() < deadline:
                await asyncio.sleep(0.01)
            turn_latency.extend(replied_at[j] - sent_at[j] for j in replied_at)
        concurrent_acks = list(acks)
        acks.clear()
        for index in range(50):
            await one(customers + index, 0)
            await asyncio.sleep(0.05)
    total = customers * messages
    print(f"{total} messages from {customers} customers, {messages} rounds")
    for label, values in (("ack, idle", acks), (f"ack, {customers} at once", concurrent_acks)):
        print(f"webhook {label}: median {statistics.median(values) * 1000:.1f} ms, "
              f"p95 {percentile(values, 0.95) * 1000:.1f} ms, p99 {percentile(values, 0.99) * 1000:.1f} ms")
    print(f"webhook→reply: median {statistics.median(turn_latency) * 1000:.0f} ms, "
          f"p95 {percentile(turn_latency, 0.95) * 1000:.0f} ms "
          f"({len(turn_latency)}/{total} replied)")
    await server.close()
    await chatflow.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--messages", type=int, default=4)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.customers, arguments.messages))
