"""Telegram's sending limits per chat (PRODUCT.md §5): about one message a second in a chat and
twenty a minute in a group. Sends to one chat wait their turn; other chats are not held up."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimits:
    min_interval: float = 1.0  # seconds between two messages in one chat
    per_minute: int = 20  # messages in one chat within any 60 s


class ChatRateLimiter:
    WINDOW = 60.0

    def __init__(self, limits: RateLimits = RateLimits()) -> None:
        self._limits = limits
        self._sent: dict[int, deque[float]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def wait_turn(self, chat_id: int) -> None:
        """Return when a message may go to `chat_id` now; the caller sends right after."""
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        async with lock:
            sent = self._sent.setdefault(chat_id, deque())
            while True:
                now = time.monotonic()
                while sent and now - sent[0] >= self.WINDOW:
                    sent.popleft()
                delay = 0.0
                if sent:
                    delay = sent[-1] + self._limits.min_interval - now
                if len(sent) >= self._limits.per_minute:
                    delay = max(delay, sent[0] + self.WINDOW - now)
                if delay <= 0:
                    break
                await asyncio.sleep(delay)
            sent.append(time.monotonic())
