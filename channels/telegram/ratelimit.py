"""Telegram's sending limits per chat (PRODUCT.md §5): about one message a second in a chat and
twenty a minute in a group. Sends to one chat take their turn; other chats are not held up.

A delivery slot is shared by every tenant and channel, so a send never sleeps long for its turn:
when the next free turn is further away than `max_wait`, the limiter raises `RateLimited` with
the number of seconds to come back after, and the outbox defers the row instead of holding a
worker (one busy group must not stall WhatsApp replies).

When Telegram itself answers 429 for a chat, `block` keeps every send to that chat back until its
`retry_after` has passed, so the other rows of the chat are deferred here instead of each drawing
another 429."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimits:
    min_interval: float = 1.0  # seconds between two messages in one chat
    per_minute: int = 20  # messages in one chat within any 60 s
    max_wait: float = 1.0  # longer than this to the next turn: defer the delivery instead


class RateLimited(Exception):
    """The chat's next turn is `retry_after` seconds away (more than the caller may wait)."""

    def __init__(self, chat_id: int, retry_after: float) -> None:
        super().__init__(f"chat {chat_id}: Telegram send limit reached, next turn in "
                         f"{retry_after:.1f} s")
        self.chat_id = chat_id
        self.retry_after = retry_after


class ChatRateLimiter:
    WINDOW = 60.0

    def __init__(self, limits: RateLimits = RateLimits(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        self._sent: dict[int, deque[float]] = {}  # send times (monotonic), some may be booked ahead
        self._blocked: dict[int, float] = {}  # chat → no send before this time (Telegram's 429)

    @property
    def max_wait(self) -> float:
        return self._limits.max_wait

    def block(self, chat_id: int, seconds: float) -> None:
        """Telegram said "retry after `seconds`" for `chat_id`: no turn in it before then."""
        until = self._clock() + max(seconds, 0.0)
        self._blocked[chat_id] = max(self._blocked.get(chat_id, until), until)

    def reserve(self, chat_id: int, count: int = 1, *, max_wait: float | None = None) -> list[float]:
        """Book the next `count` turns in `chat_id` (monotonic times to send at), all or none.
        With `max_wait`, raise `RateLimited` instead when the first turn, or the per-minute room
        for the whole series, is more than `max_wait` seconds beyond the plain spacing."""
        now = self._clock()
        limits = self._limits
        sent = self._sent.setdefault(chat_id, deque())
        while sent and now - sent[0] >= self.WINDOW:
            sent.popleft()
        blocked = self._blocked.get(chat_id, now)
        if blocked <= now:
            self._blocked.pop(chat_id, None)
        planned = list(sent)
        slots: list[float] = []
        for _ in range(count):
            at = max(now, blocked)
            if planned:
                at = max(at, planned[-1] + limits.min_interval)
            if len(planned) >= limits.per_minute:
                at = max(at, planned[-limits.per_minute] + self.WINDOW)
            planned.append(at)
            slots.append(at)
        if max_wait is not None:
            # beyond the spacing of min_interval, how long the series would wait for its turns
            # (a series longer than the per-minute budget waits in any case: judged on its head)
            over = max(slots[k] - now - k * limits.min_interval
                       for k in range(min(count, limits.per_minute)))
            if over > max_wait:
                raise RateLimited(chat_id, over)
        sent.extend(slots)
        return slots

    async def wait_turn(self, chat_id: int, *, max_wait: float | None = None) -> None:
        """Return when a message may go to `chat_id` now; the caller sends right after. With
        `max_wait`, raise `RateLimited` rather than wait longer than that (nothing is booked)."""
        (slot,) = self.reserve(chat_id, max_wait=max_wait)
        await self.sleep_until(slot)

    async def sleep_until(self, slot: float) -> None:
        delay = slot - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)
