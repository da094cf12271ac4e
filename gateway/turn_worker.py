"""The inbound worker: claims stored events one conversation turn at a time (after the debounce
window), runs the pipeline, and releases the events for a retry if the turn fails. Several
workers per process and several processes share the queue through PostgreSQL leases."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import asyncpg

from core.inbound import MAX_TURN_ATTEMPTS, from_record
from core.models import InboundMessage
from core.pipeline import TurnProcessor
from core.ports import LostClaim
from gateway import metrics
from gateway.logs import conversation_id_var
from gateway.notify import Wakeup, work_loop
from storage.repositories import inbox
from storage.repositories.inbox import InboundEvent

log = logging.getLogger(__name__)

TURN_LEASE = timedelta(minutes=2)
MAX_TURN_WAIT_SECONDS = 10.0  # PRODUCT.md §4: a burst is answered after 10 s at the latest


def to_message(event: InboundEvent) -> InboundMessage:
    return from_record(event.payload, event_id=event.id, attempt=event.attempts,
                       provider_message_id=event.provider_message_id)


class TurnWorker:
    def __init__(self, pool: asyncpg.Pool, dsn: str, processor: TurnProcessor, *,
                 concurrency: int = 4, lease: timedelta = TURN_LEASE) -> None:
        self._pool = pool
        self._processor = processor
        self._concurrency = concurrency
        self._lease = lease
        self._wakeup = Wakeup(dsn, (inbox.NOTIFY_CHANNEL,))
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        await self._wakeup.start()
        self._tasks = [asyncio.create_task(self._loop(), name=f"turn-worker-{i}")
                       for i in range(self._concurrency)]

    async def stop(self, timeout: float = 20) -> None:
        """Finish turns in progress (up to `timeout`), then stop; a cut turn is retried after its
        lease by whichever process is running then."""
        self._stopping.set()
        self._wakeup.event.set()
        _, pending = await asyncio.wait(self._tasks, timeout=timeout) if self._tasks else ((), ())
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._wakeup.stop()

    async def _loop(self) -> None:
        await work_loop(
            "turn worker", self.run_once,
            lambda: inbox.seconds_until_ready(self._pool, max_wait=MAX_TURN_WAIT_SECONDS),
            self._wakeup, running=lambda: not self._stopping.is_set())

    async def run_once(self) -> bool:
        """Claim and process one ready turn; False when none is ready."""
        claimed = await inbox.claim_turn(self._pool, lease=self._lease,
                                         max_wait=MAX_TURN_WAIT_SECONDS)
        if claimed is None:
            return False
        conversation_id, events = claimed
        token = conversation_id_var.set(str(conversation_id))
        try:
            with metrics.STAGE_SECONDS.labels("turn").time():
                outcome = await self._processor.process(
                    conversation_id, [to_message(e) for e in events])
            metrics.TURNS.labels(outcome.act).inc()
            for code in outcome.degraded:
                metrics.LLM_ERRORS.labels(code).inc()
            log.info("turn done", extra={"act": outcome.act, "state": outcome.state,
                                         "messages": len(events)})
        except asyncio.CancelledError:
            raise
        except LostClaim:
            log.warning("turn outlived its lease and was taken over; its result is dropped",
                        extra={"events": len(events)})
        except Exception as exc:
            log.exception("turn failed; events go back to the queue",
                          extra={"events": len(events), "attempt": events[0].attempts})
            await inbox.release(self._pool, [(e.id, e.attempts) for e in events],
                                f"{type(exc).__name__}: {exc}", max_attempts=MAX_TURN_ATTEMPTS,
                                retry_in=timedelta(seconds=2 ** min(events[0].attempts, 6)))
        finally:
            conversation_id_var.reset(token)
        return True
