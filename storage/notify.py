"""Wake-ups from PostgreSQL LISTEN/NOTIFY, with polling as the fallback when the listening
connection is lost (a worker never depends on a notification to make progress)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from core.waiting import event_or_timeout
from storage.database import UNAVAILABLE, connect

log = logging.getLogger(__name__)


class Wakeup:
    """An asyncio.Event set whenever one of the channels is notified (and `on_notify` called,
    also when the listening connection comes back: whatever was notified meanwhile is lost)."""

    def __init__(self, dsn: str, channels: tuple[str, ...], *,
                 on_notify: Callable[[], None] | None = None) -> None:
        self._dsn = dsn
        self._channels = channels
        self._on_notify_hook = on_notify
        self.event = asyncio.Event()
        self.connected = False  # listening: no need to poll for new work
        self.notifications = 0  # how many have come (and reconnections: something may have)
        self._task: asyncio.Task[None] | None = None

    def _on_notify(self, *_: object) -> None:
        self.notifications += 1
        self.event.set()
        if self._on_notify_hook is not None:
            self._on_notify_hook()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="listen:" + ",".join(self._channels))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait(self, timeout: float) -> bool:
        """Return on a notification (or `event` set by its owner) or after `timeout` seconds,
        whichever is first; False after the timeout."""
        fired = await event_or_timeout(self.event, timeout)
        self.event.clear()
        return fired

    async def _listen(self) -> None:
        delay = 1.0
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await connect(self._dsn)
                for channel in self._channels:
                    await conn.add_listener(channel, self._on_notify)
                self.connected = True
                self._on_notify()  # whatever changed before we listened
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
