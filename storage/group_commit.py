"""Group commit of inbound webhooks: the ones handled in the same turn of the event loop (and any
that arrive while a batch is being written) share one statement and one commit; each caller is
answered only once its event is committed. A webhook that finds no write in flight is written at
once (waiting a millisecond for company added that millisecond to every message of a quiet
gateway); under load a batch grows to what arrived during the previous write, so the database
does a few hundred commits a second however many webhooks come. A batch that fails is written
again one event at a time, so one bad event fails alone."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from uuid import UUID

import asyncpg

from storage.repositories import inbox
from storage.repositories.inbox import NewEvent

log = logging.getLogger(__name__)

GATHER_SECONDS = 0.0  # one turn of the event loop
MAX_BATCH = 128
Result = tuple[UUID, int | None]  # (conversation id, event id or None for a duplicate)


class GroupCommit:
    def __init__(self, pool: asyncpg.Pool, *, gather_seconds: float = GATHER_SECONDS,
                 max_batch: int = MAX_BATCH) -> None:
        self._pool = pool
        self._gather_seconds = gather_seconds
        self._max_batch = max_batch
        self._waiting: list[tuple[NewEvent, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def accept(self, event: NewEvent) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((event, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all(), name="inbox-group-commit")
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

    async def _write(self, batch: Sequence[tuple[NewEvent, asyncio.Future[Result]]]) -> None:
        try:
            results = await inbox.accept_many(self._pool, [event for event, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            log.warning("a batch of webhooks failed; writing them one by one",
                        extra={"events": len(batch), "error": type(exc).__name__})
            for one in batch:
                await self._write([one])
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def _settle(future: asyncio.Future[Result], outcome: Result | BaseException) -> None:
    if future.done():  # the caller went away
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
