"""Outbound delivery (PRODUCT.md §8): what a channel sender gets and answers (the `Sender` port
is in `core.ports`), the retry schedule, and how long each kind of message is worth retrying:

- what belongs to an open request (its card, reminders, notes, a manager's message to the
  customer) is retried for as long as the request is open;
- the bot's reply to the customer is retried for a while (REPLY_RETRY_MINUTES, one hour by
  default) and then replaced by one apology, with the conversation handed to the desk;
- anything else (mirrors, notes after a request closed, the apology itself) for a day.
Retries back off exponentially, at most every 10 minutes, so a long outage ends with each
message delivered once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from core.outbound import CustomerText, OutboundMessage, Purpose

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
    # None: retried while `handover_open`; else given up once this has passed
    deliver_until: datetime | None = None
    handover_open: bool = False  # the request the message belongs to is still open
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
    # False for a deferral (a send-rate limit): the attempt is given back; it comes back after
    # `retry_after`
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
        counting this attempt."""
        return DeliveryOutcome(ok=False, error=reason, retryable=True, retry_after=retry_after,
                               consume_attempt=False)


def backoff(attempts: int, *, base: float = 2.0, retry_after: float | None = None) -> timedelta:
    """Exponential: 2 s, 4 s, 8 s … capped at 10 minutes; a peer's retry_after wins when longer."""
    delay = timedelta(seconds=min(base ** max(attempts, 1), MAX_BACKOFF.total_seconds()))
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


DESK_MESSAGE_MAX_AGE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RetryWindow:
    handover_id: UUID | None  # retried while this request is open (when set)
    max_age: timedelta  # otherwise (or once it closed), given up this long after queueing


def retry_window(message: OutboundMessage, reply_max_age: timedelta) -> RetryWindow:
    handover_id = getattr(message, "handover_id", None)
    if isinstance(message, CustomerText) and message.purpose == Purpose.REPLY:
        return RetryWindow(None, reply_max_age)
    return RetryWindow(handover_id, DESK_MESSAGE_MAX_AGE)


def expired(delivery: Delivery, now: datetime) -> bool:
    """Whether a delivery that failed again is given up now."""
    if delivery.handover_open:
        return False
    return delivery.deliver_until is not None and now >= delivery.deliver_until


def is_bot_reply(message: OutboundMessage) -> bool:
    return isinstance(message, CustomerText) and message.purpose == Purpose.REPLY
