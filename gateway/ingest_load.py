"""Webhook requests being handled in this process, so that a burst of them is acknowledged
first. Every inbound message is committed before its 200; the turn that answers it can wait a
moment. While many webhooks are in flight, the turn worker runs one turn at a time (a turn
started is never paused): on one event loop each running turn takes a share of the CPU that the
acknowledgements need, and a turn deferred in a burst also answers more of its customer's
messages at once (the debounce's own effect). Below the mark nothing changes. One turn rather
than a quarter of the workers: ingest at c=64 2,234 / 3,464 / 2,242 against 1,725 / 1,849 /
1,960 req/s, p99 39 / 52 / 72 against 67 / 52 / 100 ms (benchmarks.run, alternate runs). The
burst counts as over BURST_LINGER after the count last left the mark: between one request and
the next the count dips, and each dip let every worker start a turn (with 16 workers, ingest p99 at
c=16 93 -> 27 ms, at c=64 38 -> 28 ms). Such a dip lasts a millisecond or so: a linger of 0.1 s
covers it as well as 0.5 s did (ingest p99 at c=16 10-12 / 12-14 ms, at c=64 24-31 / 25-35 ms,
instant, alternate runs) and the backlog a burst left starts draining 0.4 s sooner (a burst of
2,000 answered at 188-190 against 175-183 turns/s).

A turn waiting on the LLM (a remote call of 0.5-3 s) uses no CPU, so once it has waited
MODEL_WAIT_AFTER it no longer holds one of the workers: the loop starts another turn (up to
MODEL_WAIT_FACTOR x the workers in flight). Otherwise the turns in flight, not the cores, would
bound the rate: with a 0.5 s model and 8 workers, 7 turns a second on an idle machine
(benchmarks.run --llm-seconds). A call that answers within MODEL_WAIT_AFTER (a local model, a
fake) changes nothing: the turns it would add would only compete for the CPU."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

MODEL_WAIT_FACTOR = 8
MODEL_WAIT_AFTER = 0.05  # seconds
BURST_LINGER = 0.1  # seconds a burst counts as going on after the last time it was


class IngestLoad:
    def __init__(self, busy_at: int = 8, linger: float = BURST_LINGER) -> None:
        """`busy_at`: webhooks in flight from which the process counts as taking a burst;
        `linger`: seconds it goes on after the count last left that mark."""
        self._busy_at = busy_at
        self._linger = linger
        self._burst_until = 0.0  # the event loop's time
        self._burst_over: asyncio.TimerHandle | None = None
        self.in_flight = 0
        self.model_waits = 0  # turns waiting on the LLM now
        self.room = asyncio.Event()  # set as a turn starts waiting: the turn loop may start one

    @contextmanager
    def handling(self) -> Iterator[None]:
        self.in_flight += 1
        try:
            yield
        finally:
            if self.in_flight >= self._busy_at:
                self._prolong_burst()
            self.in_flight -= 1

    @contextmanager
    def waiting_on_model(self) -> Iterator[None]:
        """Around an LLM call of a turn: counted once it has waited MODEL_WAIT_AFTER."""
        counted = False

        def count() -> None:
            nonlocal counted
            counted = True
            self.model_waits += 1
            self.room.set()

        timer = asyncio.get_running_loop().call_later(MODEL_WAIT_AFTER, count)
        try:
            yield
        finally:
            timer.cancel()
            if counted:
                self.model_waits -= 1

    @property
    def in_burst(self) -> bool:
        """At the mark, or left it less than the linger ago."""
        return self.in_flight >= self._busy_at or \
            asyncio.get_running_loop().time() < self._burst_until

    def _prolong_burst(self) -> None:
        """A webhook leaves the mark: the burst goes on for the linger from now. Webhooks in
        flight dip below the mark between one request and the next, and each dip would
        otherwise let every worker start a turn. As it ends, the turn loop is told (`room`)."""
        loop = asyncio.get_running_loop()
        self._burst_until = loop.time() + self._linger
        if self._burst_over is None:
            self._burst_over = loop.call_at(self._burst_until, self._end_burst)

    def _end_burst(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._burst_until:
            self._burst_over = loop.call_at(self._burst_until, self._end_burst)
            return
        self._burst_over = None
        if not self.in_burst:  # back at the mark: its next leaving lingers anew
            self.room.set()

    def turn_slots(self, workers: int) -> int:
        """How many turns may run at once now: all the workers, or one during a burst, plus
        the turns waiting on the model (at most MODEL_WAIT_FACTOR x the workers in all)."""
        working = 1 if self.in_burst else workers
        return min(working + self.model_waits, workers * MODEL_WAIT_FACTOR)
