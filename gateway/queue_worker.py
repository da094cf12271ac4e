"""The loop shared by the queue workers (turns, deliveries): claim as many due items as there are
free slots, handle each in its own task, renew the leases of the items in flight on a heartbeat,
and sleep until the next item is due or a notification arrives.

One claim loop per queue per process: a notification wakes that loop only (it claims for every
free slot at once), never a herd of workers racing for one row. Leases are short and renewed
while an item is worked on, so after a crash the work is picked up again within one lease."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from storage.database import UNAVAILABLE
from storage.notify import Wakeup

log = logging.getLogger(__name__)
T = TypeVar("T")


class QueueWorker(Generic[T]):
    def __init__(self, name: str, wakeup: Wakeup, *, concurrency: int,
                 claim: Callable[[int], Awaitable[Sequence[T]]],
                 handle: Callable[[T], Awaitable[bool | None]],
                 next_due_in: Callable[[], Awaitable[float | None]],
                 renew: Callable[[Sequence[T]], Awaitable[None]] | None = None,
                 heartbeat_seconds: float = 5.0,
                 slots: Callable[[int], int] | None = None,
                 room: asyncio.Event | None = None) -> None:
        """`handle` runs one item and never raises; it returns False when the item's outcome
        made nothing due that was not due before (a row sent, a turn whose conversation left the
        queue), True or None when it may have (a retry, the conversation's next turn): then the
        loop looks at the queue again as the item ends (see `_done`). `slots`: how many of the
        `concurrency` slots the loop may fill now (at least one; `IngestLoad.turn_slots`; more
        than `concurrency` while items wait on a model); `room`: set when `slots` may have grown."""
        self._name = name
        self._wakeup = wakeup
        self._concurrency = concurrency
        self._claim = claim
        self._handle = handle
        self._next_due_in = next_due_in
        self._renew = renew
        self._heartbeat_seconds = heartbeat_seconds
        self._slots = slots
        self._room = room
        # each item in flight, and the notification count when it started
        self._in_flight: dict[asyncio.Task[bool | None], tuple[T, int]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._context = contextvars.copy_context()  # what its items run in (no caller's fields)

    async def start(self) -> None:
        await self._wakeup.start()
        self._tasks = [asyncio.create_task(self._loop(), name=self._name)]
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

    @property
    def has_room(self) -> bool:
        """Running, with a free slot: an item handed over now (`take`) starts at once."""
        return not self._stopping.is_set() and len(self._in_flight) < self._concurrency

    def take(self, items: Sequence[T]) -> None:
        """Handle items leased to this process elsewhere (not claimed by this loop) like claimed
        ones: leases renewed while they run, waited for on stop. Once stopping they are left to
        their leases (whichever process runs then claims them when those run out). They run in
        the worker's own context, not the giver's (its log fields are not theirs)."""
        if self._stopping.is_set():
            return
        self._start(items, self._wakeup.notifications, self._context.copy())

    def _start(self, items: Sequence[T], notified: int,
               context: contextvars.Context | None = None) -> None:
        """`notified`: the notification count before the items were claimed (a notification
        after that may concern them: see `_done`)."""
        for item in items:
            task = asyncio.create_task(self._handle(item), context=context)
            self._in_flight[task] = (item, notified)
            task.add_done_callback(self._done)

    async def _loop(self) -> None:
        """Claim while items are due; otherwise sleep until the next item is due or a
        notification arrives (polling every IDLE_POLL_SECONDS while notifications cannot be
        received). Woken only by items of its own finishing (their outcome may have made
        something due sooner), it looks at the next due time before it claims. A database
        outage or a bug in one round is logged and retried, never ends the loop."""
        claim_first = True
        while not self._stopping.is_set():
            try:
                due_in: float | None = 0.0 if claim_first else await self._next_due_in()
                if due_in is not None and due_in <= 0:
                    if await self._claim_and_start():
                        claim_first = True
                        continue
                    due_in = await self._next_due_in()
                cap = IDLE_LISTENING_SECONDS if self._wakeup.connected else IDLE_POLL_SECONDS
                notified = self._wakeup.notifications
                fired = await self._wakeup.wait(
                    cap if due_in is None else min(cap, max(due_in, 0.01)))
                claim_first = not fired or self._wakeup.notifications != notified
            except asyncio.CancelledError:
                raise
            except UNAVAILABLE as exc:
                log.warning("%s: database unavailable", self._name,
                            extra={"error": type(exc).__name__})
                claim_first = True
                await asyncio.sleep(2)
            except Exception:
                log.exception("%s: loop error", self._name)
                claim_first = True
                await asyncio.sleep(1)

    async def _claim_and_start(self) -> bool:
        """Claim for every free slot; True when the claim filled them all (more may be due)."""
        slots = self._concurrency if self._slots is None else self._slots(self._concurrency)
        free = slots - len(self._in_flight)
        if free <= 0:
            await self._wait_for_room()
            return True
        notified = self._wakeup.notifications
        batch = await self._claim(free)
        self._start(batch, notified)
        return len(batch) >= free

    async def _wait_for_room(self) -> None:
        """Until an item ends or (`room`) the slots may have grown."""
        waits: list[asyncio.Future[Any]] = list(self._in_flight)
        grown = None
        if self._room is not None:
            self._room.clear()
            grown = asyncio.ensure_future(self._room.wait())
            waits.append(grown)
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if grown is not None:
                grown.cancel()

    def _done(self, task: asyncio.Task[bool | None]) -> None:
        """A slot is free. The loop looks again when the item's outcome may have made something
        due sooner (a retry, the next turn of its conversation), or when a notification came
        while it ran (its conversation may have new messages, which the loop could not claim
        while the item held it), or when notifications cannot be received. Otherwise nothing is
        due that the loop has not seen: a look would be a query for nothing (one a message, on
        each queue). A full loop does not need the wake-up: it waits for a slot itself."""
        _, notified = self._in_flight.pop(task, (None, self._wakeup.notifications))
        settled = not task.cancelled() and task.exception() is None and task.result() is False
        if not settled or notified != self._wakeup.notifications or not self._wakeup.connected:
            self._wakeup.event.set()

    async def _heartbeat(self) -> None:
        assert self._renew is not None
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            items = [item for item, _ in self._in_flight.values()]
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
