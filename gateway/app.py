"""The app factory: the one place that knows every part and wires them together."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway.demo import seed_demo_client
from gateway.keys import DB, DSN, SETTINGS
from gateway.middlewares import MIDDLEWARES
from gateway.readiness import add_check
from gateway.resources import open_database
from gateway.routes import health
from gateway.settings import Settings


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_database(app[SETTINGS], pool_size=max(10, app[SETTINGS].workers + 6)) as db:
        app[DB] = db.pool
        app[DSN] = db.dsn

        async def check() -> dict[str, object]:
            await db.pool.fetchval("SELECT 1")
            return {"status": "ok"}

        add_check(app, "database", check)
        if app[SETTINGS].demo_seed:
            await seed_demo_client(db.pool)
        yield


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(database_ctx)
    app.add_routes(health.routes)
    return app
