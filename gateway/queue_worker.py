"""The loop shared by the queue workers (turns, deliveries): claim as many due items as there are
free slots, handle each in its own task, renew the leases of the items in flight on a heartbeat,
and sleep until the next item is due or a notification arrives.

One claim loop per queue per process: a notification wakes that loop only (it claims for every
free slot at once), never a herd of workers racing for one row. Leases are short and renewed
while an item is worked on, so after a crash the work is picked up again within one lease."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from storage.database import UNAVAILABLE
from storage.notify import Wakeup

log = logging.getLogger(__name__)
T = TypeVar("T")


class QueueWorker(Generic[T]):
    def __init__(self, name: str, wakeup: Wakeup, *, concurrency: int,
                 claim: Callable[[int], Awaitable[Sequence[T]]],
                 handle: Callable[[T], Awaitable[None]],
                 next_due_in: Callable[[], Awaitable[float | None]],
                 renew: Callable[[Sequence[T]], Awaitable[None]] | None = None,
                 heartbeat_seconds: float = 5.0) -> None:
        self._name = name
        self._wakeup = wakeup
        self._concurrency = concurrency
        self._claim = claim
        self._handle = handle
        self._next_due_in = next_due_in
        self._renew = renew
        self._heartbeat_seconds = heartbeat_seconds
        self._in_flight: dict[asyncio.Task[None], T] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        await self._wakeup.start()
        self._tasks = [asyncio.create_task(work_loop(
            self._name, self._claim_and_start, self._next_due_in, self._wakeup,
            running=lambda: not self._stopping.is_set()), name=self._name)]
        if self._renew is not None:
            self._tasks.append(asyncio.create_task(self._heartbeat(), name=f"{self._name}-heartbeat"))

    async def stop(self, timeout: float = 20) -> None:
        """Stop claiming; let the items in flight finish (up to `timeout`), then cancel the rest
        (their leases run out soon and another process takes them over)."""
        self._stopping.set()
        self._wakeup.event.set()
        if self._tasks:
            await asyncio.wait(self._tasks[:1], timeout=5)
        if self._in_flight:
            _, late = await asyncio.wait(list(self._in_flight), timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._wakeup.stop()

    async def run_once(self) -> int:
        """Claim what is due now and handle it to the end (tests and tools); how many items."""
        batch = await self._claim(self._concurrency)
        await asyncio.gather(*(self._handle(item) for item in batch))
        return len(batch)

    async def _claim_and_start(self) -> bool:
        free = self._concurrency - len(self._in_flight)
        if free <= 0:
            await asyncio.wait(list(self._in_flight), return_when=asyncio.FIRST_COMPLETED)
            return True
        batch = await self._claim(free)
        for item in batch:
            task = asyncio.create_task(self._handle(item))
            self._in_flight[task] = item
            task.add_done_callback(self._done)
        return bool(batch)

    def _done(self, task: asyncio.Task[None]) -> None:
        """A slot is free, and the item's outcome may have made something due sooner (a retry):
        the loop looks again."""
        self._in_flight.pop(task, None)
        self._wakeup.event.set()

    async def _heartbeat(self) -> None:
        assert self._renew is not None
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            items = list(self._in_flight.values())
            if not items:
                continue
            try:
                await self._renew(items)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next beat tries again; a lease outlived is fenced
                log.warning("%s: lease renewal failed", self._name,
                            extra={"error": type(exc).__name__, "items": len(items)})

    @property
    def busy(self) -> int:
        return len(self._in_flight)


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
