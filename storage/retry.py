"""Short in-place retries for a database write that records something already done outside
(a message sent, a topic created): losing that write means doing the outside effect again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from storage.database import UNAVAILABLE

log = logging.getLogger(__name__)

T = TypeVar("T")

# Pauses between tries (about 4 s in all): rides out a failover or a dropped connection.
DELAYS: tuple[float, ...] = (0.1, 0.3, 0.6, 1.0, 2.0)
TRANSIENT = (asyncpg.PostgresError, *UNAVAILABLE)


async def record(op: Callable[[], Awaitable[T]], *, what: str,
                 delays: tuple[float, ...] | None = None) -> T:
    """Run `op` (a write, safe to repeat) until it succeeds; after the last pause, the error
    is raised to the caller (who must log it: the outside effect is then unrecorded)."""
    pauses = DELAYS if delays is None else delays
    for attempt, pause in enumerate((*pauses, None), start=1):
        try:
            return await op()
        except TRANSIENT as exc:
            if pause is None:
                raise
            log.warning("database write failed, retrying",
                        extra={"what": what, "try": attempt,
                               "error": f"{type(exc).__name__}: {exc}", "retry_in": pause})
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")
