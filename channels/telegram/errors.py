"""Telegram error texts safe to log and store: aiogram's network errors quote the request URL,
which holds the bot token."""

from __future__ import annotations

import re

from aiogram.exceptions import TelegramAPIError

_TOKEN_IN_URL = re.compile(r"bot\d+:[A-Za-z0-9_-]+")


def redact(text: str) -> str:
    return _TOKEN_IN_URL.sub("bot<token>", text)


def describe(exc: BaseException) -> str:
    message = exc.message if isinstance(exc, TelegramAPIError) else f"{type(exc).__name__}: {exc}"
    return redact(message)
