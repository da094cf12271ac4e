"""A burst of webhooks is acknowledged first: while many are in flight in the process, the turn
worker runs one turn at a time (a running turn is never paused), and fills every slot again
once the burst is over."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack

from gateway.ingest_load import IngestLoad
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
