"""A burst of webhooks is acknowledged first: while many are in flight in the process, the turn
worker runs one turn at a time (a running turn is never paused), and fills every slot again
once the burst has been over a moment. A turn that has waited on the model a moment frees its
slot meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager

from gateway.ingest_load import MODEL_WAIT_AFTER, MODEL_WAIT_FACTOR, IngestLoad
from gateway.queue_worker import QueueWorker
from tests.queues.test_wakeups import FakeWakeup

# The burst's linger here: longer than the process's (0.1 s), so that a busy machine's late
# wake-up does not end a burst the test holds open.
LINGER = 0.5


async def test_a_burst_leaves_one_turn_slot_until_it_has_been_over_a_moment() -> None:
    load = IngestLoad(busy_at=8, linger=LINGER)
    with load.handling():
        assert load.in_flight == 1 and load.turn_slots(8) == 8
    with ExitStack() as burst:
        for _ in range(8):
            burst.enter_context(load.handling())
        assert load.turn_slots(8) == 1 and load.turn_slots(1) == 1
        await asyncio.sleep(LINGER * 1.2)  # slow webhooks held at the mark: still a burst
        assert load.turn_slots(8) == 1
    # the webhooks in flight dip between requests: a dip is not the burst's end
    assert load.in_flight == 0 and load.turn_slots(8) == 1 and not load.room.is_set()
    await asyncio.sleep(LINGER / 2)
    with ExitStack() as burst:  # the burst goes on, so does its linger
        for _ in range(8):
            burst.enter_context(load.handling())
    await asyncio.sleep(LINGER * 0.7)  # past where the first burst would have ended
    assert load.turn_slots(8) == 1 and not load.room.is_set()
    await asyncio.wait_for(load.room.wait(), LINGER)  # the turn loop is told it is over
    assert load.turn_slots(8) == 8


class Items:
    """A fake queue of numbered items, and the most of them its handler ran at once."""

    def __init__(self, count: int) -> None:
        self.waiting = list(range(count))
        self.running: set[int] = set()
        self.most_running = 0

    async def claim(self, limit: int) -> list[int]:
        batch, self.waiting[:limit] = self.waiting[:limit], []
        return batch

    async def next_due_in(self) -> float | None:
        return 0.0 if self.waiting else None

    @contextmanager
    def running_one(self, item: int) -> Iterator[None]:
        self.running.add(item)
        self.most_running = max(self.most_running, len(self.running))
        try:
            yield
        finally:
            self.running.discard(item)

    def worker(self, handle: Callable[[int], Awaitable[bool]], *, concurrency: int,
               load: IngestLoad, room: bool = False) -> QueueWorker[int]:
        return QueueWorker("test", FakeWakeup(), concurrency=concurrency,  # type: ignore[arg-type]
                           claim=self.claim, handle=handle, next_due_in=self.next_due_in,
                           slots=load.turn_slots, room=load.room if room else None)


async def test_the_loop_fills_only_the_slots_a_burst_leaves() -> None:
    load = IngestLoad(busy_at=2, linger=LINGER)
    items = Items(40)
    release = asyncio.Event()

    async def handle(item: int) -> bool:
        with items.running_one(item):
            await release.wait()
            await asyncio.sleep(0.02)  # items running together overlap
        return True

    worker = items.worker(handle, concurrency=8, load=load, room=True)
    burst = ExitStack()
    for _ in range(2):
        burst.enter_context(load.handling())
    await worker.start()
    try:
        await asyncio.sleep(0.2)
        assert items.most_running == 1 and len(items.waiting) == 39  # one of 8 in the burst
        burst.close()
        await asyncio.sleep(LINGER / 2)
        assert items.most_running == 1  # a lull of a moment is not the burst's end
        await asyncio.sleep(LINGER)  # then the loop fills all 8 slots, the first running
        assert items.most_running == 8 and len(items.waiting) == 32
        release.set()
        await asyncio.sleep(0.2)
        assert not items.waiting
    finally:
        release.set()
        await worker.stop()


async def test_turns_waiting_on_the_model_free_their_slots_up_to_a_cap() -> None:
    load = IngestLoad(busy_at=8, linger=LINGER)
    with load.waiting_on_model():  # a call answered at once changes nothing
        pass
    assert load.model_waits == 0 and not load.room.is_set()
    with ExitStack() as waits:
        for _ in range(3):
            waits.enter_context(load.waiting_on_model())
        assert load.model_waits == 0 and load.turn_slots(8) == 8
        await asyncio.sleep(MODEL_WAIT_AFTER * 2)
        assert load.model_waits == 3 and load.room.is_set() and load.turn_slots(8) == 11
        for _ in range(8):
            waits.enter_context(load.handling())
        assert load.turn_slots(8) == 4  # a burst: one working turn, and the three waiting
        for _ in range(100):
            waits.enter_context(load.waiting_on_model())
        await asyncio.sleep(MODEL_WAIT_AFTER * 2)
        assert load.turn_slots(8) == 8 * MODEL_WAIT_FACTOR
    assert load.model_waits == 0 and load.turn_slots(8) == 1  # the burst lingers a moment


async def test_the_loop_starts_another_item_when_one_starts_waiting_on_the_model() -> None:
    """Two slots, every item waiting on a (fake) model: the loop does not wait for an item to
    end, it starts the next once one has waited."""
    load = IngestLoad()
    items = Items(6)
    answer = asyncio.Event()

    async def handle(item: int) -> bool:
        with items.running_one(item):
            await asyncio.sleep(0.01)  # its own work first
            with load.waiting_on_model():
                await answer.wait()
        return True

    worker = items.worker(handle, concurrency=2, load=load, room=True)
    await worker.start()
    try:
        await asyncio.sleep(0.5)
        assert items.most_running == 6 and not items.waiting and load.model_waits == 6
        answer.set()
        await asyncio.sleep(0.1)
        assert not items.running and load.model_waits == 0
    finally:
        answer.set()
        await worker.stop()
