"""The desk's own settings, handed in by the composition root (from TELEGRAM_MODE,
TELEGRAM_API_BASE, PUBLIC_BASE_URL, DATA_DIR and the TELEGRAM_* timing knobs)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from channels.telegram.ratelimit import RateLimits


class TelegramMode(StrEnum):
    POLLING = "polling"
    WEBHOOK = "webhook"


class TelegramSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    mode: TelegramMode = TelegramMode.POLLING
    api_base: str = "https://api.telegram.org"
    public_base_url: str | None = None
    data_dir: Path = Path("./.data")  # the media cache and the media-link key live here
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    rescan_seconds: float = 15.0  # how soon added or changed bots are picked up
    poll_timeout: int = 25  # getUpdates long-poll seconds
    stale_update_seconds: float = 15.0  # an update never handled this long is handled again
    update_sweep_seconds: float = 5.0  # how often updates whose lease ran out are taken over
    keep_updates_days: int = 2  # de-duplication memory (Telegram resends for about a day)
