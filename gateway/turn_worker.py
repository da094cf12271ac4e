"""The inbound worker: claims due conversation turns from the turn queue (after the debounce
window), runs the pipeline, and puts the events back for a retry if the turn fails. Several
workers per process and several processes share the queue through PostgreSQL leases, renewed
while a turn runs, so a turn cut by a crash is taken over within one lease. A turn that fails
(or dies) MAX_TURN_ATTEMPTS times still answers: the customer gets the fallback text once and
the operator is told (`on_failed`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import asyncpg

from core.flood import DEFAULT_LIMITS, TurnLimits
from core.inbound import MAX_TURN_ATTEMPTS, from_record
from core.models import InboundMessage
from core.pipeline import HISTORY_LINES, TurnProcessor
from core.ports import LostClaim
from gateway import metrics
from gateway.logs import conversation_id_var
from gateway.queue_worker import QueueWorker
from storage.notify import Wakeup
from storage.repositories import inbox
from storage.repositories.inbox import ClaimedTurn, InboundEvent

log = logging.getLogger(__name__)

TURN_LEASE = timedelta(seconds=15)

# Told when a turn is given up: (the turn, error).
TurnFailed = Callable[[ClaimedTurn, str], Awaitable[None]]


def to_message(event: InboundEvent) -> InboundMessage:
    return from_record(event.payload, event_id=event.id, attempt=event.attempts,
                       provider_message_id=event.provider_message_id)


class TurnWorker:
    def __init__(self, pool: asyncpg.Pool, dsn: str, processor: TurnProcessor, *,
                 concurrency: int = 4, lease: timedelta = TURN_LEASE,
                 on_failed: TurnFailed | None = None, limits: TurnLimits = DEFAULT_LIMITS,
                 slots: Callable[[int], int] | None = None,
                 room: asyncio.Event | None = None) -> None:
        """`limits`: the flood shield's defaults, for what a claimed turn takes. `slots`: how
        many turns may run now (`IngestLoad.turn_slots`), `room`: set when that may have grown."""
        self._pool = pool
        self._limits = limits
        self._processor = processor
        self._lease = lease
        self._on_failed = on_failed
        self._queue = QueueWorker(
            "turn worker", Wakeup(dsn, (inbox.NOTIFY_CHANNEL,)), concurrency=concurrency,
            claim=self._claim, handle=self._handle, next_due_in=lambda: inbox.next_due_in(pool),
            renew=self._renew, heartbeat_seconds=lease.total_seconds() / 3, slots=slots,
            room=room)

    async def start(self) -> None:
        await self._queue.start()

    async def stop(self, timeout: float = 20) -> None:
        """Finish turns in progress (up to `timeout`), then stop; a cut turn is taken over
        after its lease by whichever process is running then."""
        await self._queue.stop(timeout)

    async def run_once(self) -> int:
        return await self._queue.run_once()

    async def _claim(self, limit: int) -> list[ClaimedTurn]:
        return await inbox.claim_turns(self._pool, limit=limit, lease=self._lease,
                                       limits=self._limits, view_history=HISTORY_LINES)

    async def _renew(self, turns: Sequence[ClaimedTurn]) -> None:
        await inbox.renew(self._pool, turns, self._lease)

    async def _handle(self, turn: ClaimedTurn) -> bool:
        """Run one claimed turn. Never raises (it runs as a bare task). False when the turn
        ended with its conversation out of the queue, as far as the claim knew (no events
        past what it took: `QueueWorker` then need not look at the queue again)."""
        token = conversation_id_var.set(str(turn.conversation_id))
        try:
            return await self._process(turn) or turn.more_waiting
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("turn bookkeeping failed; the turn is retried after its lease")
            return True
        finally:
            conversation_id_var.reset(token)

    async def _process(self, turn: ClaimedTurn) -> bool:
        """True when the turn's events went back to the queue (a retry) or its claim was lost."""
        if not turn.events:  # nothing waits (rows written around the queue): end the turn
            await inbox.reschedule(self._pool, turn.conversation_id, turn.token)
            return True
        attempt = max(e.attempts for e in turn.events)
        if attempt > MAX_TURN_ATTEMPTS:  # claimed that often and never finished: it kills us
            await self._give_up(turn, f"claimed {attempt} times without finishing")
            return False
        try:
            with metrics.STAGE_SECONDS.labels("turn").time():
                outcome = await self._processor.process(
                    turn.conversation_id, [to_message(e) for e in turn.events],
                    flooding=turn.flooding, view=turn.view)
            metrics.record_turn(outcome)
            log.info("turn done", extra={"act": outcome.act, "state": outcome.state,
                                         "messages": len(turn.events), "flooding": turn.flooding})
        except LostClaim:
            log.warning("turn outlived its lease and was taken over; its result is dropped",
                        extra={"events": len(turn.events)})
            return True
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if attempt >= MAX_TURN_ATTEMPTS:
                log.exception("turn failed for good", extra={"events": len(turn.events)})
                await self._give_up(turn, error)
                return False
            log.exception("turn failed; events go back to the queue",
                          extra={"events": len(turn.events), "attempt": attempt})
            await inbox.release(self._pool, turn, error,
                                retry_in=timedelta(seconds=2 ** min(attempt, 6)))
            return True
        return False

    async def _give_up(self, turn: ClaimedTurn, error: str) -> None:
        """The customer gets the fallback text once, the events are kept as failed, the
        operator hears of it. If even that fails, the turn comes back after its lease."""
        outcome = await self._processor.give_up(turn.conversation_id,
                                                [to_message(e) for e in turn.events], error)
        metrics.TURNS.labels(outcome.client_slug, "failed").inc()
        log.error("turn given up; the customer got the fallback text",
                  extra={"events": len(turn.events), "error": error})
        if self._on_failed is not None:
            await self._on_failed(turn, error)
