"""A queue worker's loop looks at its queue again when an item ends only if something may have
become due that it has not seen: the item's outcome says so (a retry, its conversation's next
turn), a notification came while it ran, or notifications cannot be received. An item that
ended cleanly costs no query."""

from __future__ import annotations

import asyncio

import pytest

from core.waiting import event_or_timeout
from gateway.queue_worker import QueueWorker
from storage.notify import Wakeup


class FakeWakeup:
    """The notification listener's surface, with no database behind it."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.connected = True
        self.notifications = 0

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def wait(self, timeout: float) -> bool:
        fired = await event_or_timeout(self.event, timeout)
        self.event.clear()
        return fired


async def nothing_due() -> float | None:
    return None


async def no_claim(limit: int) -> list[str]:
    return []


async def ended(outcome: bool | None, *, notified: bool = False, connected: bool = True,
                fails: bool = False) -> bool:
    """Whether the loop was woken when an item with this outcome ended."""
    wakeup = FakeWakeup()
    wakeup.connected = connected

    async def handle(item: str) -> bool | None:
        await asyncio.sleep(0)
        if notified:
            wakeup.notifications += 1  # a message arrived while the item ran
        if fails:
            raise RuntimeError("a bug")
        return outcome

    worker = QueueWorker("test", wakeup, concurrency=2, claim=no_claim,  # type: ignore[arg-type]
                         handle=handle, next_due_in=nothing_due)
    worker.take(["item"])
    while worker.busy:
        await asyncio.sleep(0)
    return wakeup.event.is_set()


async def test_an_item_that_ended_cleanly_does_not_wake_the_loop() -> None:
    assert not await ended(False)


@pytest.mark.parametrize("outcome", [True, None])
async def test_an_item_whose_outcome_may_be_due_again_wakes_the_loop(outcome) -> None:
    assert await ended(outcome)


async def test_a_notification_while_the_item_ran_wakes_the_loop() -> None:
    assert await ended(False, notified=True)


async def test_without_notifications_every_item_wakes_the_loop() -> None:
    assert await ended(False, connected=False)


async def test_an_item_that_raised_wakes_the_loop() -> None:
    assert await ended(False, fails=True)


async def test_a_cancelled_wait_ends_even_when_the_event_fires_in_the_same_turn() -> None:
    """asyncio.wait_for (Python 3.11) returned the event's result here and lost the
    cancellation: the loop around the wait went on, and a shutdown waited for it forever."""
    wakeup = Wakeup("postgresql://nowhere/unused", ("channel",))  # never started: no listening
    waiting = asyncio.create_task(wakeup.wait(30))
    await asyncio.sleep(0)  # it waits on the event now
    wakeup.event.set()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_wait_says_whether_the_event_came_or_the_time_ran_out() -> None:
    event = asyncio.Event()
    assert await event_or_timeout(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await event_or_timeout(event, 5) is True
