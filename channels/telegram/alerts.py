"""The operator's alert chat (`core.ports.AlertNotifier`): a bot of its own
(ALERT_TELEGRAM_BOT_TOKEN, not a client's, so that alerts about a client's desk do not depend on
that desk's bot) posting plain text to ALERT_TELEGRAM_CHAT_ID through TELEGRAM_API_BASE."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from channels.telegram.bots import REQUEST_TIMEOUT
from channels.telegram.errors import describe

TELEGRAM_TEXT_LIMIT = 4096


class AlertNotSent(Exception):
    """The operator's chat could not be reached (the error text has no token in it)."""


class TelegramAlertNotifier:
    def __init__(self, api_base: str, token: str, chat_id: int) -> None:
        self._bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_base),
                                                      timeout=REQUEST_TIMEOUT))
        self._chat_id = chat_id

    async def notify(self, text: str) -> None:
        try:
            await self._bot.send_message(chat_id=self._chat_id, text=text[:TELEGRAM_TEXT_LIMIT])
        except Exception as exc:
            raise AlertNotSent(describe(exc)) from None

    async def aclose(self) -> None:
        await self._bot.session.close()
