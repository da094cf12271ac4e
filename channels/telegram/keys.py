"""Application keys of the Telegram desk."""

from __future__ import annotations

from aiohttp import web

from channels.telegram.context import DeskTuning
from channels.telegram.media import MediaLinks
from channels.telegram.updates import UpdateProcessor

UPDATES = web.AppKey("telegram_updates", UpdateProcessor)
MEDIA = web.AppKey("telegram_media", MediaLinks)
# Optional: set before the app starts to change the desk's timings (tests).
TUNING = web.AppKey("telegram_tuning", DeskTuning)
