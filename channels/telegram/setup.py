"""Plugs the Telegram desk into the app: `setup_telegram(app)` adds its routes and a cleanup
context that registers the outbox sender and runs the bots for the app's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from channels.telegram.bots import BotRegistry
from channels.telegram.context import DeskContext, DeskTuning
from channels.telegram.keys import MEDIA, TUNING, UPDATES
from channels.telegram.media import MediaLinks
from channels.telegram.ratelimit import ChatRateLimiter
from channels.telegram.routes import routes
from channels.telegram.runner import BotRunner
from channels.telegram.sender import TelegramSender
from channels.telegram.updates import UpdateProcessor
from core.relay import Relay
from gateway.keys import DB, DESK, SENDERS, SETTINGS, STORE, TENANTS
from gateway.knowledge_routes import KNOWLEDGE_KEY
from gateway.readiness import add_check


def setup_telegram(app: web.Application) -> None:
    """Call before the outbox worker's context is added: the sender must be registered first."""
    app.cleanup_ctx.append(telegram_ctx)
    app.add_routes(routes)


async def telegram_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    tuning = app.get(TUNING) or DeskTuning()
    bots = BotRegistry(settings.telegram_api_base)
    media = MediaLinks(settings.data_dir)
    ctx = DeskContext(pool=app[DB], store=app[STORE], desk=app[DESK],
                      relay=Relay(app[STORE], app[DESK]), media=media,
                      public_base_url=settings.public_base_url,
                      knowledge=lambda: app.get(KNOWLEDGE_KEY))
    updates = UpdateProcessor(ctx, bots, app[TENANTS])
    app[UPDATES] = updates
    app[MEDIA] = media
    app[SENDERS]["telegram"] = TelegramSender(bots, app[DB], app[TENANTS],
                                              ChatRateLimiter(tuning.rate_limits))
    runner = BotRunner(mode=settings.telegram_mode, public_base_url=settings.public_base_url,
                       pool=app[DB], tenants=app[TENANTS], bots=bots, updates=updates,
                       media=media, tuning=tuning)

    async def check() -> dict[str, object]:
        return {"status": "ok", "mode": str(settings.telegram_mode), "bots": runner.running_bots}

    add_check(app, "telegram", check)
    await runner.start()
    try:
        yield
    finally:
        await runner.stop()
        await updates.drain()
        await bots.close()
