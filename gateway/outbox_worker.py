"""The delivery worker: claims due outbox rows and hands each to its channel's sender, with a
persisted exponential backoff (at most every 10 minutes) until the row's deadline
(`core.delivery`: while its request is open, an hour for a bot reply, a day otherwise), then
`failed`, its follow-ups (`core.undelivered`), an alert and a metric.

A claimed row is leased for LEASE and the lease is renewed every few seconds while the delivery
runs, so a row whose process died is taken over within one LEASE. One delivery is cut at
DEADLINE (a stuck peer must not hold a slot for ever); its worst cases:

- Telegram, one message (RequestCard, CardRepost: the most requests of any kind): create the
  topic, send, on "topic gone" create and send again, pin = 5 requests × 20 s
  (channels.telegram.bots.REQUEST_TIMEOUT) = 100 s, plus the send-limit waits and the writes
  that record each step (~4 s each when the database blinks) ≈ 110 s.
- Telegram, a text in several pieces: ≤ 3 requests (60 s) per piece, so a long one can go past
  DEADLINE; it is cut there and, as each piece posted is recorded, the retry resumes after the
  last piece posted.
- WhatsApp media: 3 tries × 90 s (channels.chatflow.client.MEDIA_TIMEOUT) + ~1 s ≈ 271 s; cut at
  DEADLINE it ends like a third timeout (retried later; ChatFlow's msg_id drops a double)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from core.delivery import Delivery, DeliveryOutcome, backoff, expired
from core.ports import Sender, Store, Tenants
from core.undelivered import after_give_up
from gateway import metrics
from gateway.queue_worker import QueueWorker
from storage.group_commit import GroupCommit
from storage.notify import Wakeup
from storage.repositories import outbox
from storage.repositories.outbox import LocalLease
from storage.retry import record

log = logging.getLogger(__name__)

DEADLINE = timedelta(minutes=4)  # one delivery, at most (see above)
LEASE = timedelta(seconds=15)  # renewed every LEASE / 3 while the delivery runs

# Told when a delivery is given up (the alert sender, when configured).
GivenUp = Callable[[Delivery, str], Awaitable[None]]
# Told of every outcome (what the senders see of their peers: `gateway.sender_health`).
Outcome = Callable[[Delivery, DeliveryOutcome], None]


class OutboxWorker:
    def __init__(self, pool: asyncpg.Pool, dsn: str, senders: dict[str, Sender], *,
                 store: Store, tenants: Tenants, concurrency: int = 4,
                 deadline: timedelta = DEADLINE, lease: timedelta = LEASE,
                 on_given_up: GivenUp | None = None, on_outcome: Outcome | None = None) -> None:
        self._pool = pool
        self._senders = senders
        self._store = store
        self._tenants = tenants
        self._deadline = deadline.total_seconds()
        self._lease = lease
        self._on_given_up = on_given_up
        self._on_outcome = on_outcome
        # deliveries finishing together are recorded as sent in one statement and one commit
        self._sent: GroupCommit[tuple[Delivery, dict[str, Any] | None], None] = GroupCommit(
            lambda sent: outbox.mark_sent(pool, sent), what="deliveries sent")
        self._queue = QueueWorker(
            "outbox worker", Wakeup(dsn, (outbox.NOTIFY_CHANNEL,)), concurrency=concurrency,
            claim=self._claim, handle=self.deliver, next_due_in=lambda: outbox.next_due_in(pool),
            renew=self._renew, heartbeat_seconds=lease.total_seconds() / 3)

    async def start(self) -> None:
        await self._queue.start()

    async def stop(self) -> None:
        """Stop claiming, let deliveries in flight finish (a cut one is taken over after its
        lease)."""
        await self._queue.stop(timeout=10)

    async def run_once(self) -> int:
        """Deliver what is due now; returns how many rows were handled (tests and tools)."""
        return await self._queue.run_once()

    def local_lease(self) -> LocalLease:
        """How a transaction writes rows this worker delivers as soon as they are committed
        (`PgStore.deliver_locally`): channels it has a sender for, while it has a free slot."""
        return LocalLease(takes=lambda channel: channel in self._senders and self._queue.has_room,
                          lease=self._lease)

    def hand_over(self, deliveries: list[Delivery]) -> None:
        """Deliver rows committed leased to this process (`local_lease`), without a claim."""
        self._queue.take(deliveries)

    async def _claim(self, limit: int) -> list[Delivery]:
        return await outbox.claim_due(self._pool, limit=limit, lease=self._lease,
                                      channels=tuple(self._senders))

    async def _renew(self, deliveries: Sequence[Delivery]) -> None:
        await outbox.renew(self._pool, deliveries, self._lease)

    async def deliver(self, delivery: Delivery) -> bool:
        """Send one row and record the outcome. Never raises (it runs as a bare task): a failure
        is logged at error level, and the row is delivered again after its lease. False when
        the row was sent and recorded (nothing of it is due again: `QueueWorker` need not look
        at the queue again), True otherwise."""
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
            if self._on_outcome is not None:
                self._on_outcome(delivery, outcome)
            await self._record(delivery, outcome)
            return not outcome.ok
        except Exception:
            log.exception("delivery outcome not recorded; the row goes out again after its lease",
                          extra={"delivery": delivery.id, "channel": delivery.channel,
                                 "kind": delivery.kind})
            return True

    async def _record(self, delivery: Delivery, outcome: DeliveryOutcome) -> None:
        """Store the outcome, retrying the write a few times: once a message went out, losing
        this write would send it again after the lease (a duplicate in Telegram)."""
        context = {"delivery": delivery.id, "channel": delivery.channel, "kind": delivery.kind,
                   "attempt": delivery.attempts,
                   "conversation_id": str(delivery.conversation_id or "")}
        slug = await self._client_label(delivery)
        if outcome.ok:
            await record(lambda: self._sent.submit((delivery, outcome.result)),
                         what="outbox sent")
            metrics.DELIVERIES.labels(slug, delivery.channel, "sent").inc()
            log.info("delivered", extra=context)
            return
        error = outcome.error or "unknown error"
        if not outcome.consume_attempt:  # deferred (e.g. a Telegram chat's send limit)
            delay = timedelta(seconds=max(outcome.retry_after or 0.0, 0.5))
            await record(lambda: outbox.mark_retry(self._pool, delivery, error, delay,
                                                   refund_attempt=True), what="outbox deferred")
            metrics.DELIVERIES.labels(slug, delivery.channel, "deferred").inc()
            log.info("delivery deferred",
                     extra={**context, "reason": error, "retry_in": delay.total_seconds()})
            return
        if outcome.retryable and not expired(delivery, datetime.now(UTC)):
            delay = backoff(delivery.attempts, retry_after=outcome.retry_after)
            await record(lambda: outbox.mark_retry(self._pool, delivery, error, delay),
                         what="outbox retry")
            metrics.DELIVERIES.labels(slug, delivery.channel, "retry").inc()
            log.warning("delivery failed, will retry",
                        extra={**context, "error": error, "retry_in": delay.total_seconds()})
            return
        given_up = await record(lambda: self._give_up(delivery, error), what="outbox failed")
        if not given_up:
            return  # taken over meanwhile: the other worker decides
        metrics.DELIVERIES.labels(slug, delivery.channel, "failed").inc()
        log.error("delivery failed for good", extra={**context, "error": error})
        if self._on_given_up is not None:
            await self._on_given_up(delivery, error)

    async def _client_label(self, delivery: Delivery) -> str:
        """The client's slug for the metrics; never in the way of recording the outcome."""
        try:
            client = await self._tenants.client(delivery.client_id)
        except Exception:
            return ""
        return client.slug if client else ""

    async def _give_up(self, delivery: Delivery, error: str) -> bool:
        client = await self._tenants.client(delivery.client_id)
        message_branch = getattr(delivery.message, "branch_id", None)
        branch = await self._tenants.branch(message_branch) if message_branch else None
        async with self._store.transaction() as tx:
            if not await tx.outbox.fail(delivery, error):
                return False
            if client is not None:
                await after_give_up(tx, delivery, client, branch)
        return True
