"""Group commit: writes submitted in the same turn of the event loop (and any that come while a
batch is being written) share one statement and one commit; each caller is answered only once
its own write is committed. A write that finds none in flight goes at once (waiting a
millisecond for company added that millisecond to every write of a quiet gateway); under load a
batch grows to what came during the previous write, so the database does a few hundred commits
a second however many writes come. A batch that fails is written again one item at a time, so
one bad item fails alone.

Used for inbound webhooks (`PgInbox`: each is acknowledged after its commit) and for recording
deliveries as sent (the outbox worker)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

GATHER_SECONDS = 0.0  # one turn of the event loop
MAX_BATCH = 128
T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """`write_many` writes a batch in one transaction and returns one result per item, in
    order; `what` names the writes in logs and in the writer task's name."""

    def __init__(self, write_many: Callable[[Sequence[T]], Awaitable[Sequence[R]]], *,
                 what: str, gather_seconds: float = GATHER_SECONDS,
                 max_batch: int = MAX_BATCH) -> None:
        self._write_many = write_many
        self._what = what
        self._gather_seconds = gather_seconds
        self._max_batch = max_batch
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all(), name=f"group-commit: {self._what}")
        return await asyncio.shield(future)

    async def _write_all(self) -> None:
        try:
            await asyncio.sleep(self._gather_seconds)
            while self._waiting:
                batch = self._waiting[:self._max_batch]
                del self._waiting[:self._max_batch]
                await self._write(batch)
        finally:
            self._writer = None

    async def _write(self, batch: Sequence[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._write_many([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            log.warning("a batch of writes failed; writing them one by one",
                        extra={"what": self._what, "items": len(batch),
                               "error": type(exc).__name__})
            for one in batch:
                await self._write([one])
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def _settle(future: asyncio.Future[R], outcome: R | BaseException) -> None:
    if future.done():  # the caller went away
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
