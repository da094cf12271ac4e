"""A burst of webhooks is acknowledged first: while many are in flight in the process, the turn
worker runs one turn at a time (a running turn is never paused), and fills every slot again
once the burst is over."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack

from gateway.ingest_load import MODEL_WAIT_AFTER, MODEL_WAIT_FACTOR, IngestLoad
from gateway.queue_worker import QueueWorker
from tests.queues.test_wakeups import FakeWakeup


def test_a_burst_leaves_one_turn_slot() -> None:
    load = IngestLoad(busy_at=8)
    with load.handling():
        assert load.in_flight == 1 and load.turn_slots(8) == 8
    with ExitStack() as burst:
        for _ in range(8):
            burst.enter_context(load.handling())
        assert load.turn_slots(8) == 1 and load.turn_slots(1) == 1
    assert load.in_flight == 0 and load.turn_slots(8) == 8


async def test_the_loop_fills_only_the_slots_a_burst_leaves() -> None:
    load = IngestLoad(busy_at=2)
    waiting = list(range(40))
    running: set[int] = set()
    most_running = 0
    release = asyncio.Event()

    async def claim(limit: int) -> list[int]:
        batch, waiting[:limit] = waiting[:limit], []
        return batch

    async def handle(item: int) -> bool:
        nonlocal most_running
        running.add(item)
        most_running = max(most_running, len(running))
        await release.wait()
        await asyncio.sleep(0.02)  # items running together overlap
        running.discard(item)
        return True

    async def next_due_in() -> float | None:
        return 0.0 if waiting else None

    worker = QueueWorker("test", FakeWakeup(), concurrency=8, claim=claim,  # type: ignore[arg-type]
                         handle=handle, next_due_in=next_due_in, slots=load.turn_slots)
    burst = ExitStack()
    for _ in range(2):
        burst.enter_context(load.handling())
    await worker.start()
    try:
        await asyncio.sleep(0.2)
        assert most_running == 1 and len(waiting) == 39  # one of 8 while the burst lasts
        burst.close()
        release.set()  # the running items end; the loop claims for all 8 slots again
        await asyncio.sleep(0.2)
        assert most_running == 8 and not waiting
    finally:
        release.set()
        await worker.stop()


async def test_turns_waiting_on_the_model_free_their_slots_up_to_a_cap() -> None:
    load = IngestLoad(busy_at=8)
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
    assert load.model_waits == 0 and load.turn_slots(8) == 8


async def test_the_loop_starts_another_item_when_one_starts_waiting_on_the_model() -> None:
    """Two slots, every item waiting on a (fake) model: the loop does not wait for an item to
    end, it starts the next as soon as one waits."""
    load = IngestLoad()
    waiting = list(range(6))
    running: set[int] = set()
    most_running = 0
    answer = asyncio.Event()

    async def claim(limit: int) -> list[int]:
        batch, waiting[:limit] = waiting[:limit], []
        return batch

    async def handle(item: int) -> bool:
        nonlocal most_running
        running.add(item)
        most_running = max(most_running, len(running))
        await asyncio.sleep(0.01)  # its own work first
        with load.waiting_on_model():
            await answer.wait()
        running.discard(item)
        return True

    async def next_due_in() -> float | None:
        return 0.0 if waiting else None

    worker = QueueWorker("test", FakeWakeup(), concurrency=2, claim=claim,  # type: ignore[arg-type]
                         handle=handle, next_due_in=next_due_in, slots=load.turn_slots,
                         room=load.room)
    await worker.start()
    try:
        await asyncio.sleep(0.5)
        assert most_running == 6 and not waiting and load.model_waits == 6
        answer.set()
        await asyncio.sleep(0.1)
        assert not running and load.model_waits == 0
    finally:
        answer.set()
        await worker.stop()
