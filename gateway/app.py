"""The app factory: the one place that knows every part and wires them together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import aiohttp
from aiohttp import web

from ai.llm import OpenAIChat
from channels.chatflow.client import ChatFlowClient, WhatsAppSender
from channels.telegram.setup import setup_telegram
from core.answers import Answerer
from core.desk import Desk
from core.pipeline import TurnProcessor
from gateway import knowledge_routes
from gateway.demo import load_demo_knowledge, seed_demo_client
from gateway.keys import (
    DB,
    DESK,
    DSN,
    HTTP,
    PROCESSOR,
    SENDERS,
    SETTINGS,
    STORE,
    TENANTS,
    TURN_FAULT_HOOK,
)
from gateway.knowledge_cli import open_knowledge_base
from gateway.knowledge_routes import KNOWLEDGE_KEY
from gateway.middlewares import MIDDLEWARES
from gateway.outbox_worker import OutboxWorker
from gateway.readiness import add_check
from gateway.resources import open_database
from gateway.routes import admin, health, legacy, prometheus, webhook
from gateway.settings import Settings
from gateway.turn_worker import TurnWorker
from scheduler.setup import setup_scheduler
from storage.repositories import clients
from storage.store import PgStore, PgTenants


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with open_database(settings, pool_size=max(10, settings.workers + 6)) as db:
        app[DB] = db.pool
        app[DSN] = db.dsn
        app[STORE] = PgStore(db.pool)
        app[TENANTS] = PgTenants(db.pool)
        app[DESK] = Desk(app[STORE])

        async def check() -> dict[str, object]:
            await db.pool.fetchval("SELECT 1")
            return {"status": "ok"}

        add_check(app, "database", check)
        if settings.demo_seed:
            await seed_demo_client(db.pool)
        yield


async def http_session_ctx(app: web.Application) -> AsyncIterator[None]:
    """One outgoing HTTP session for the plain-HTTP peers (ChatFlow, TEI)."""
    async with aiohttp.ClientSession(headers={"User-Agent": "truffles-gateway"}) as session:
        app[HTTP] = session
        yield


async def whatsapp_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    token = settings.chatflow_token.get_secret_value() if settings.chatflow_token else None
    app[SENDERS]["whatsapp"] = WhatsAppSender(
        ChatFlowClient(app[HTTP], settings.chatflow_api_base), app[TENANTS], token)
    yield


async def knowledge_ctx(app: web.Application) -> AsyncIterator[None]:
    """The knowledge base (embedder + vector store), checked at start-up: a misconfigured or
    unreachable embedder stops the start with one line."""
    settings = app[SETTINGS]
    kb = await open_knowledge_base(settings)
    app[KNOWLEDGE_KEY] = kb

    async def check() -> dict[str, object]:
        return {"status": "ok", "embedder": kb.embedder.name, "collection": kb.store.collection,
                "points": await kb.store.count()}

    add_check(app, "knowledge", check)
    if settings.demo_seed:
        await load_demo_knowledge(app[DB], kb)
    try:
        yield
    finally:
        await kb.aclose()


async def pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    """The LLM (when configured), the answerer and the turn processor, and the inbound workers."""
    settings = app[SETTINGS]
    llm = None
    if settings.llm_enabled:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        llm = OpenAIChat(api_key=key, base_url=settings.openai_base_url, model=settings.llm_model,
                         timeout=settings.llm_timeout_seconds)

    async def check() -> dict[str, object]:
        # The bot degrades without its LLM (knowledge answers, fallbacks): "degraded", not "down".
        if llm is None:
            return {"status": "disabled"}
        probe = await llm.probe()
        return {"status": "ok" if probe.ok else "degraded", "model": settings.llm_model,
                **({} if probe.ok else {"error": probe.error})}

    add_check(app, "llm", check)
    app[PROCESSOR] = TurnProcessor(app[STORE], app[TENANTS], Answerer(app[KNOWLEDGE_KEY], llm),
                                   llm, app[DESK])
    worker = TurnWorker(app[DB], app[DSN], app[PROCESSOR], concurrency=settings.workers,
                        lease=timedelta(seconds=settings.turn_lease_seconds),
                        fault_hook=app.get(TURN_FAULT_HOOK))  # type: ignore[arg-type]
    await worker.start()
    try:
        yield
    finally:
        await worker.stop()
        if llm is not None:
            await llm.aclose()


async def outbox_ctx(app: web.Application) -> AsyncIterator[None]:
    worker = OutboxWorker(app[DB], app[DSN], app[SENDERS], concurrency=app[SETTINGS].workers)
    await worker.start()
    yield
    await worker.stop()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[SENDERS] = {}
    app.cleanup_ctx.extend([database_ctx, http_session_ctx, knowledge_ctx, whatsapp_ctx])
    # Adapters that register outbox senders or routes go here, before the outbox worker.
    setup_telegram(app)
    app.cleanup_ctx.append(outbox_ctx)
    setup_scheduler(app)
    app.cleanup_ctx.append(pipeline_ctx)
    app.add_routes(health.routes)
    app.add_routes(prometheus.routes)
    app.add_routes(webhook.routes)
    app.add_routes(legacy.routes)
    app.add_routes(admin.routes)
    knowledge_routes.setup_routes(app, lambda slug: clients.exists(app[DB], slug))
    _unwind_on_failed_start(app)
    return app


def _unwind_on_failed_start(app: web.Application) -> None:
    """Run the resource contexts as one, so that a part failing at start-up (say, the embedded
    vector store held by another process) closes the parts already started in reverse order:
    `web.run_app` does not clean up after a failed start, which would leave the embedded
    PostgreSQL running and the pool half-closed."""
    parts = list(app.cleanup_ctx)

    async def all_parts(app: web.Application) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for part in parts:
                await stack.enter_async_context(asynccontextmanager(part)(app))
            yield

    app.cleanup_ctx.clear()
    app.cleanup_ctx.append(all_parts)
