"""The app factory: routes and middlewares, and one cleanup context that builds the whole system
(`gateway.wiring.build_system`) for the app's lifetime and hands each route the parts it uses
(typed keys, `gateway/keys.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from channels.chatflow.inbound import ChatFlowInbound
from gateway import keys
from gateway.admin import create_admin_app
from gateway.heap import freeze_what_start_built
from gateway.middlewares import MIDDLEWARES
from gateway.processes import ProcessSlot
from gateway.routes import health, legacy, prometheus, reminders, telegram, webhook
from gateway.settings import Settings
from gateway.wiring import build_system


def create_app(settings: Settings, *, process: ProcessSlot | None = None) -> web.Application:
    """`process`: which of `serve --processes N` this is (None when serving alone)."""
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=settings.max_body_bytes)
    app[keys.SETTINGS] = settings
    if process is not None:
        app[keys.PROCESS] = process
    app.cleanup_ctx.append(_system)
    for module in (health, prometheus, webhook, legacy, telegram, reminders):
        app.add_routes(module.routes)
    app.add_subapp("/admin", create_admin_app())
    return app


async def _system(app: web.Application) -> AsyncIterator[None]:
    process = app.get(keys.PROCESS)
    async with build_system(app[keys.SETTINGS], serving=True,
                            primary=process is None or process.primary,
                            one_of_processes=process is not None) as system:
        app[keys.DB] = system.database.pool
        app[keys.TENANTS] = system.tenants
        app[keys.DESK] = system.desk
        app[keys.READINESS] = system.readiness
        app[keys.SCHEDULER_PORTS] = system.scheduler_ports
        app[keys.CHATFLOW] = ChatFlowInbound(system.tenants, system.inbox)
        app[keys.INGEST] = system.ingest
        assert system.processor and system.knowledge and system.serving and system.doctor
        app[keys.DOCTOR] = system.doctor
        assert system.serving.scheduler is not None
        app[keys.PROCESSOR] = system.processor
        app[keys.KNOWLEDGE] = system.knowledge
        app[keys.SERVING] = system.serving
        app[keys.SCHEDULER] = system.serving.scheduler
        freeze_what_start_built()
        yield
