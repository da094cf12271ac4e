"""Wake-ups from PostgreSQL LISTEN/NOTIFY, with polling as the fallback when the listening
connection is lost (a worker never depends on a notification to make progress)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from storage.database import UNAVAILABLE, connect

log = logging.getLogger(__name__)


class Wakeup:
    """An asyncio.Event set whenever one of the channels is notified."""

    def __init__(self, dsn: str, channels: tuple[str, ...]) -> None:
        self._dsn = dsn
        self._channels = channels
        self.event = asyncio.Event()
        self.connected = False  # listening: no need to poll for new work
        self._task: asyncio.Task[None] | None = None

    def _on_notify(self, *_: object) -> None:
        self.event.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="listen:" + ",".join(self._channels))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait(self, timeout: float) -> None:
        """Return on a notification or after `timeout` seconds, whichever is first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), timeout)
        self.event.clear()

    async def _listen(self) -> None:
        delay = 1.0
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await connect(self._dsn)
                for channel in self._channels:
                    await conn.add_listener(channel, self._on_notify)
                self.connected = True
                delay = 1.0
                while not conn.is_closed():
                    await asyncio.sleep(5)
            except asyncio.CancelledError:
                raise
            except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
                log.warning("notification listener lost, polling meanwhile",
                            extra={"error": type(exc).__name__})
            finally:
                self.connected = False
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()
            self.event.set()  # whatever was notified while we were away
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30)


# How long an idle worker sleeps at most: while notifications arrive it only wakes for the next
# item due (the queue knows when), otherwise it polls.
IDLE_LISTENING_SECONDS = 30.0
IDLE_POLL_SECONDS = 1.0


async def work_loop(name: str, work: Callable[[], Awaitable[bool]],
                    next_due_in: Callable[[], Awaitable[float | None]], wakeup: Wakeup,
                    running: Callable[[], bool] = lambda: True) -> None:
    """The loop of a queue worker: do work while there is some; otherwise sleep until the next
    item is due or a notification arrives (polling every IDLE_POLL_SECONDS while notifications
    cannot be received). A database outage or a bug in one round is logged and retried, never
    ends the loop."""
    while running():
        try:
            if await work():
                continue
            due_in = await next_due_in()
            cap = IDLE_LISTENING_SECONDS if wakeup.connected else IDLE_POLL_SECONDS
            await wakeup.wait(cap if due_in is None else min(cap, max(due_in, 0.01)))
        except asyncio.CancelledError:
            raise
        except UNAVAILABLE as exc:
            log.warning("%s: database unavailable", name, extra={"error": type(exc).__name__})
            await asyncio.sleep(2)
        except Exception:
            log.exception("%s: loop error", name)
            await asyncio.sleep(1)
