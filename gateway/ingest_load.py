"""Webhook requests being handled in this process, so that a burst of them is acknowledged
first. Every inbound message is committed before its 200; the turn that answers it can wait a
moment. While many webhooks are in flight, the turn worker runs one turn at a time (a turn
started is never paused): on one event loop each running turn takes a share of the CPU that the
acknowledgements need, and a turn deferred in a burst also answers more of its customer's
messages at once (the debounce's own effect). Below the mark nothing changes. One turn rather
than a quarter of the workers: ingest at c=64 2,234 / 3,464 / 2,242 against 1,725 / 1,849 /
1,960 req/s, p99 39 / 52 / 72 against 67 / 52 / 100 ms (benchmarks.run, alternate runs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class IngestLoad:
    def __init__(self, busy_at: int = 8) -> None:
        """`busy_at`: webhooks in flight from which the process counts as taking a burst."""
        self._busy_at = busy_at
        self.in_flight = 0

    @contextmanager
    def handling(self) -> Iterator[None]:
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    def turn_slots(self, workers: int) -> int:
        """How many turns may run at once now: all the workers, or one during a burst."""
        return 1 if self.in_flight >= self._busy_at else workers
