"""What the update handlers work with, gathered once at start-up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from channels.telegram.media import MediaLinks
from channels.telegram.ratelimit import RateLimits
from core.desk import Desk
from core.knowledge import KnowledgeBase
from core.ports import Store
from core.relay import Relay


@dataclass(frozen=True, slots=True)
class DeskContext:
    pool: asyncpg.Pool
    store: Store
    desk: Desk
    relay: Relay
    media: MediaLinks
    public_base_url: str | None
    knowledge: Callable[[], KnowledgeBase | None]  # None while the knowledge module is absent


@dataclass(frozen=True, slots=True)
class DeskTuning:
    """Timings of the desk; tests shorten them."""

    rate_limits: RateLimits = field(default_factory=RateLimits)
    rescan_seconds: float = 15.0  # how soon added or changed bots are picked up
    poll_timeout: int = 25  # getUpdates long-poll seconds
    stale_update_seconds: float = 60.0  # an update unhandled this long is handled again
    keep_updates_days: int = 2  # de-duplication memory (Telegram resends for about a day)
