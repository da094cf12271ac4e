"""The app factory: the one place that knows every part and wires them together."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from channels.chatflow.client import ChatFlowClient, WhatsAppSender
from core.desk import Desk
from gateway.demo import seed_demo_client
from gateway.keys import DB, DESK, DSN, HTTP, SENDERS, SETTINGS, STORE, TENANTS
from gateway.middlewares import MIDDLEWARES
from gateway.outbox_worker import OutboxWorker
from gateway.readiness import add_check
from gateway.resources import open_database
from gateway.routes import health
from gateway.settings import Settings
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


async def outbox_ctx(app: web.Application) -> AsyncIterator[None]:
    worker = OutboxWorker(app[DB], app[DSN], app[SENDERS], concurrency=app[SETTINGS].workers)
    await worker.start()
    yield
    await worker.stop()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[SENDERS] = {}
    app.cleanup_ctx.extend([database_ctx, http_session_ctx, whatsapp_ctx])
    # Adapters that register outbox senders or routes go here, before the outbox worker.
    app.cleanup_ctx.append(outbox_ctx)
    app.add_routes(health.routes)
    return app
