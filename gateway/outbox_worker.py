"""The delivery worker: claims due outbox rows and hands each to its channel's sender, with
persisted exponential backoff, a maximum number of attempts, then `failed` and an alert.

A claimed row is leased: while the lease runs no other worker takes it; when it runs out the row is
taken again (its worker is presumed dead). So one delivery must end well within its lease, or a
live but slow worker and the next one would send the same message twice. Each delivery therefore
runs under DEADLINE, with LEASE comfortably beyond it. The worst cases:

- Telegram, one message (escalation_card, card_repost: the most requests of any kind): create
  the topic, send, on "topic gone" create and send again, pin = 5 requests × 20 s
  (channels.telegram.bots.REQUEST_TIMEOUT) = 100 s, plus ≤ 1 s of send-limit wait per send and
  ≤ ~4 s per recorded step (storage.retry: topic, card id) ≈ 110 s.
- Telegram, a text in several pieces: ≤ 3 requests (60 s) per piece, so a long one can go past
  DEADLINE; it is cut there and, as each piece posted is recorded, the retry resumes after the
  last piece posted.
- WhatsApp media: 3 tries × 90 s (channels.chatflow.client.MEDIA_TIMEOUT) + ~1 s ≈ 271 s; cut at
  DEADLINE it ends like a third timeout (retried later; ChatFlow's msg_id drops a double).

DEADLINE (240 s) covers every single-message delivery with room to spare; LEASE (300 s) leaves
another minute for recording the outcome (storage.retry: ~4 s) and for clock drift between the
worker and the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import asyncpg

from core.delivery import Delivery, DeliveryOutcome, backoff
from core.ports import Sender
from gateway import metrics
from gateway.notify import Wakeup, work_loop
from storage.repositories import outbox
from storage.repositories.outbox import OutboxRepo
from storage.retry import record

log = logging.getLogger(__name__)

DEADLINE = timedelta(minutes=4)  # one delivery, at most (see above)
LEASE = timedelta(minutes=5)  # comfortably beyond DEADLINE


class OutboxWorker:
    def __init__(self, pool: asyncpg.Pool, dsn: str, senders: dict[str, Sender], *,
                 concurrency: int = 4, deadline: timedelta = DEADLINE) -> None:
        self._pool = pool
        self._senders = senders
        self._concurrency = concurrency
        self._deadline = deadline.total_seconds()
        self._wakeup = Wakeup(dsn, (outbox.NOTIFY_CHANNEL,))
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._wakeup.start()
        self._task = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self) -> None:
        """Stop claiming, let deliveries in flight finish (a cut one is retried after its lease)."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=10)
        await self._wakeup.stop()

    async def run_once(self) -> int:
        """Deliver what is due now; returns how many rows were handled (tests and CLI)."""
        batch = await outbox.claim_due(self._pool, limit=self._concurrency, lease=LEASE,
                                       channels=tuple(self._senders))
        await asyncio.gather(*(self.deliver(d) for d in batch))
        return len(batch)

    async def _run(self) -> None:
        await work_loop("outbox worker", self._claim_and_start,
                        lambda: outbox.next_due_in(self._pool), self._wakeup)

    async def _claim_and_start(self) -> bool:
        free = self._concurrency - len(self._in_flight)
        if free <= 0:
            await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            return True
        batch = await outbox.claim_due(self._pool, limit=free, lease=LEASE,
                                       channels=tuple(self._senders))
        for delivery in batch:
            task = asyncio.create_task(self.deliver(delivery))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return bool(batch)

    async def deliver(self, delivery: Delivery) -> None:
        """Send one row and record the outcome. Never raises (it runs as a bare task): a failure
        is logged at error level, and the row is delivered again after its lease."""
        try:
            sender = self._senders[delivery.channel]
            deadline = asyncio.timeout(self._deadline)
            try:
                async with deadline:
                    outcome = await sender.deliver(delivery)
            except Exception as exc:
                if isinstance(exc, TimeoutError) and deadline.expired():
                    log.warning("delivery cut at its deadline",
                                extra={"delivery": delivery.id, "channel": delivery.channel,
                                       "kind": delivery.kind, "deadline": self._deadline})
                    outcome = DeliveryOutcome.failed(
                        f"delivery took longer than {self._deadline:g} s")
                else:  # a sender bug must not lose the row
                    log.exception("sender raised", extra={"delivery": delivery.id})
                    outcome = DeliveryOutcome.failed(f"{type(exc).__name__}: {exc}")
            await self._record(delivery, outcome)
        except Exception:
            log.exception("delivery outcome not recorded; the row goes out again after its lease",
                          extra={"delivery": delivery.id, "channel": delivery.channel,
                                 "kind": delivery.kind})

    async def _record(self, delivery: Delivery, outcome: DeliveryOutcome) -> None:
        """Store the outcome, retrying the write a few times: once a message went out, losing
        this write would send it again after the lease (a duplicate in Telegram)."""
        context = {"delivery": delivery.id, "channel": delivery.channel, "kind": delivery.kind,
                   "attempt": delivery.attempts,
                   "conversation_id": str(delivery.conversation_id or "")}
        if outcome.ok:
            await record(lambda: outbox.mark_sent(self._pool, delivery.id, outcome.result),
                         what="outbox sent")
            metrics.DELIVERIES.labels(delivery.channel, "sent").inc()
            log.info("delivered", extra=context)
            return
        error = outcome.error or "unknown error"
        if not outcome.consume_attempt:  # deferred (e.g. a Telegram chat's send limit)
            delay = timedelta(seconds=max(outcome.retry_after or 0.0, 0.5))
            await record(lambda: outbox.mark_retry(self._pool, delivery.id, error, delay,
                                                   refund_attempt=True), what="outbox deferred")
            metrics.DELIVERIES.labels(delivery.channel, "deferred").inc()
            log.info("delivery deferred",
                     extra={**context, "reason": error, "retry_in": delay.total_seconds()})
            return
        if outcome.retryable and delivery.attempts < delivery.max_attempts:
            delay = backoff(delivery.attempts, retry_after=outcome.retry_after)
            await record(lambda: outbox.mark_retry(self._pool, delivery.id, error, delay),
                         what="outbox retry")
            metrics.DELIVERIES.labels(delivery.channel, "retry").inc()
            log.warning("delivery failed, will retry",
                        extra={**context, "error": error, "retry_in": delay.total_seconds()})
            return
        await record(lambda: self._give_up(delivery, error), what="outbox failed")
        metrics.DELIVERIES.labels(delivery.channel, "failed").inc()
        log.error("delivery failed for good", extra={**context, "error": error})

    async def _give_up(self, delivery: Delivery, error: str) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await outbox.mark_failed(conn, delivery.id, error)
            follow_up = getattr(delivery.message, "on_failed", None)
            if follow_up is not None:
                await OutboxRepo(conn).enqueue(delivery.client_id, follow_up,
                                               f"{delivery.idempotency_key}:failed")
