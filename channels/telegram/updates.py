"""Telegram updates in: stored (de-duplicated on `update_id`) before they are handled, then
dispatched by direction: button presses to `handlers_buttons`, messages in customer topics to
`handlers_manager_to_customer`. An update stored but not handled (the process died, the database
blinked) is handled by a later sweep; handlers are safe to run twice."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from aiogram.types import Update
from pydantic import ValidationError

from channels.telegram.bots import BotRegistry
from channels.telegram.context import DeskContext
from channels.telegram.handlers_buttons import handle_callback
from channels.telegram.handlers_manager_to_customer import handle_manager_message
from core.models import Client
from core.ports import Tenants
from storage.database import UNAVAILABLE
from storage.repositories import telegram as repo

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]


class UpdateProcessor:
    def __init__(self, ctx: DeskContext, bots: BotRegistry, tenants: Tenants) -> None:
        self._ctx = ctx
        self._bots = bots
        self._tenants = tenants
        self._background: set[asyncio.Task[None]] = set()

    async def accept(self, client: Client, payload: dict[str, Any]) -> bool:
        """Store the update; False for one seen before (it must not be handled again)."""
        return await repo.remember_update(self._ctx.pool, client.id, int(payload["update_id"]),
                                          payload)

    async def receive(self, client: Client, payload: dict[str, Any]) -> None:
        if await self.accept(client, payload):
            await self.handle(client, payload)

    def handle_soon(self, client: Client, payload: dict[str, Any]) -> None:
        """Handle an accepted update after the caller has answered (webhook mode)."""
        task = asyncio.create_task(self.handle(client, payload))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self, timeout: float = 10.0) -> None:
        if self._background:
            await asyncio.wait(self._background, timeout=timeout)

    async def handle(self, client: Client, payload: dict[str, Any]) -> None:
        update_id = int(payload["update_id"])
        bot = self._bots.bot_for(client)
        try:
            if bot is not None:
                update = Update.model_validate(payload, context={"bot": bot})
                if update.callback_query is not None:
                    await handle_callback(self._ctx, client, bot, update.callback_query)
                elif update.message is not None:
                    await handle_manager_message(self._ctx, client, bot, update.message)
        except UNAVAILABLE:
            log.warning("telegram update left for a retry: database unavailable",
                        extra={"client": client.slug, "update_id": update_id})
            return
        except ValidationError:
            log.warning("telegram update not understood", extra={"client": client.slug,
                                                                  "update_id": update_id})
        except Exception:  # one bad update must not stop the others; it is not retried
            log.exception("telegram update failed", extra={"client": client.slug,
                                                            "update_id": update_id})
        await repo.mark_update_processed(self._ctx.pool, client.id, update_id)

    async def sweep(self, *, stale_after: timedelta, keep_for: timedelta) -> int:
        """Handle updates whose handler never finished; forget old handled ones."""
        stale = await repo.claim_stale_updates(self._ctx.pool, stale_after)
        for client_id, payload in stale:
            client = await self._tenants.client(client_id)
            if client is not None:
                await self.handle(client, payload)
        await repo.prune_updates(self._ctx.pool, keep_for)
        return len(stale)
