"""One aiogram `Bot` per client token, all in this process, each with its own HTTP session to
TELEGRAM_API_BASE. Bots are made on first use and replaced when the client's token changes.
Tokens are secrets: they are never logged (log the client slug instead)."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from core.models import Client

log = logging.getLogger(__name__)

# Seconds one Bot API request may take (aiogram's default is 60). A delivery makes at most a few
# requests in a row (gateway/outbox_worker.py counts them against the outbox lease), and a slow
# Telegram is better retried by the outbox than waited on while holding a delivery slot.
REQUEST_TIMEOUT = 20.0


class BotRegistry:
    def __init__(self, api_base: str) -> None:
        self._api = TelegramAPIServer.from_base(api_base)
        self._bots: dict[UUID, Bot] = {}
        self._retired: list[Bot] = []

    def bot_for(self, client: Client) -> Bot | None:
        """The client's bot, or None when the client has no desk (no token)."""
        token = client.settings.telegram_bot_token
        if not token:
            self._retire(client.id)
            return None
        bot = self._bots.get(client.id)
        if bot is not None and bot.token == token:
            return bot
        self._retire(client.id)
        bot = Bot(token, session=AiohttpSession(api=self._api, timeout=REQUEST_TIMEOUT))
        self._bots[client.id] = bot
        log.info("telegram bot ready", extra={"client": client.slug})
        return bot

    def _retire(self, client_id: UUID) -> None:
        """A replaced bot may still be in use by a delivery: its session is closed at shutdown."""
        if (old := self._bots.pop(client_id, None)) is not None:
            self._retired.append(old)

    @property
    def count(self) -> int:
        return len(self._bots)

    async def close(self) -> None:
        bots = [*self._bots.values(), *self._retired]
        self._bots.clear()
        self._retired.clear()
        await asyncio.gather(*(bot.session.close() for bot in bots), return_exceptions=True)
