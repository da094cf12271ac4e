"""The answer to a button press: a short toast for the manager who pressed it."""

from __future__ import annotations

import logging

from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery

from channels.telegram.errors import describe

log = logging.getLogger(__name__)
TOAST_LIMIT = 200


async def toast(query: CallbackQuery, text: str) -> None:
    try:
        await query.answer(text[:TOAST_LIMIT])
    except TelegramAPIError as exc:  # the press is handled; a lost toast is only cosmetic
        log.info("callback toast not shown", extra={"error": describe(exc)})
