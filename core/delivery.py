"""Outbound delivery: what a channel sender gets and answers (the `Sender` port is in
`core.ports`), and the retry schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from core.outbound import OutboundMessage

MAX_BACKOFF = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    client_id: UUID
    conversation_id: UUID | None
    channel: str
    kind: str
    message: OutboundMessage
    idempotency_key: str
    attempts: int  # including this one
    max_attempts: int
    # what an earlier attempt recorded having done already (`outbox.record_progress`), e.g. the
    # pieces of a long message that were posted before a later piece failed; None at first
    progress: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    ok: bool
    error: str | None = None
    retryable: bool = True
    retry_after: float | None = None  # seconds, when the peer said so (Telegram 429)
    result: dict[str, Any] | None = None
    # False for a deferral (our own send-rate limit): the attempt is given back, so a row is
    # never given up for waiting its turn; it comes back after `retry_after`
    consume_attempt: bool = True

    @staticmethod
    def sent(result: dict[str, Any] | None = None) -> DeliveryOutcome:
        return DeliveryOutcome(ok=True, result=result)

    @staticmethod
    def failed(error: str, *, retryable: bool = True, retry_after: float | None = None) -> DeliveryOutcome:
        return DeliveryOutcome(ok=False, error=error, retryable=retryable, retry_after=retry_after)

    @staticmethod
    def deferred(reason: str, *, retry_after: float) -> DeliveryOutcome:
        """Not sent yet, nothing went wrong: try again after `retry_after` seconds without
        counting this attempt toward the row's maximum."""
        return DeliveryOutcome(ok=False, error=reason, retryable=True, retry_after=retry_after,
                               consume_attempt=False)


def backoff(attempts: int, *, base: float = 2.0, retry_after: float | None = None) -> timedelta:
    """Exponential: 2 s, 4 s, 8 s … capped at 10 minutes; a peer's retry_after wins when longer."""
    delay = timedelta(seconds=min(base ** max(attempts, 1), MAX_BACKOFF.total_seconds()))
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay
