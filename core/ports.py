"""Every interface the domain talks through. Adapters in `storage/`, `channels/` and `ai/`
implement them; `gateway/wiring.py` plugs them in. Nothing here knows SQL, HTTP or an SDK.

- persistence: `Store` (a transaction with its repositories), `Tenants`, `Inbox` (accepting
  inbound messages), `DeskRecords` and `UpdateLog` (the manager desk's lookups and its queue of
  received updates; defined in `core/desk_ports.py`), `Maintenance` (the scheduler's queries);
- knowledge: `Embedder`, `VectorStore`, `Reranker`, `KnowledgeSearch` (defined in
  `core/knowledge_ports.py`);
- the LLM: `LanguageModel`; speech: `Transcriber`; delivery: `Sender`, `DeliveryProgress`;
  time: `Clock`; alerts: `AlertLog`, `AlertNotifier`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from core.delivery import Delivery, DeliveryOutcome

# the desk's and the knowledge base's ports live in their own modules (this one would outgrow
# the size limit)
from core.desk_ports import CardContext as CardContext
from core.desk_ports import ClaimedUpdate as ClaimedUpdate
from core.desk_ports import DeskRecords as DeskRecords
from core.desk_ports import UpdateLog as UpdateLog
from core.knowledge_ports import Embedder as Embedder
from core.knowledge_ports import KnowledgeArchive as KnowledgeArchive
from core.knowledge_ports import KnowledgeSearch as KnowledgeSearch
from core.knowledge_ports import Reranker as Reranker
from core.knowledge_ports import VectorArchive as VectorArchive
from core.knowledge_ports import VectorStore as VectorStore
from core.models import (
    Branch,
    Client,
    Conversation,
    Customer,
    Handover,
    HistoryLine,
    InboundMessage,
    Intent,
    Role,
    State,
    TriggerType,
)
from core.outbound import OutboundMessage
from core.policy import PolicyTopic
from core.reminders import Due
from core.reports import DailyReport, ReportFigures
from core.result import Result
from core.turn_records import AnsweredTurn as AnsweredTurn
from core.turn_records import NewMessage as NewMessage


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor_type: str  # "manager" | "operator" | "system" | "customer"
    action: str
    actor_id: str | None = None
    actor_name: str | None = None
    handover_id: UUID | None = None
    conversation_id: UUID | None = None
    details: dict[str, Any] = field(default_factory=dict)


class LostClaim(Exception):
    """The turn's events were claimed again by another worker after this one's lease ran out:
    this worker's result must not be applied."""


# --------------------------------------------------------------------------- the store


@dataclass(frozen=True, slots=True)
class TurnView:
    """What a turn is decided on, read at one instant: the conversation, its customer, the
    latest history lines (oldest first) and the database's time."""

    conversation: Conversation
    customer: Customer
    history: list[HistoryLine]
    now: datetime


class ConversationsRepo(Protocol):
    async def get(self, conversation_id: UUID, *, for_update: bool = False) -> Conversation | None: ...
    async def turn_view(self, conversation_id: UUID, history_lines: int) -> TurnView | None: ...
    async def set_state(self, conversation_id: UUID, state: State) -> None: ...
    async def update(self, conversation_id: UUID, **fields: Any) -> None: ...
    async def customer(self, conversation_id: UUID) -> Customer: ...


class MessagesRepo(Protocol):
    async def add(self, conversation_id: UUID, role: Role, content: str, *,
                  provider_message_id: str | None = None,
                  metadata: dict[str, Any] | None = None) -> int: ...
    async def add_many(self, conversation_id: UUID, role: Role,
                       messages: Sequence[NewMessage]) -> None:
        """Several lines of one role, in this order, in one statement."""
        ...
    async def history(self, conversation_id: UUID, limit: int) -> list[HistoryLine]: ...


class HandoversRepo(Protocol):
    async def open_for(self, conversation_id: UUID, *, for_update: bool = False) -> Handover | None: ...
    async def get(self, handover_id: UUID, *, for_update: bool = False) -> Handover | None: ...
    async def latest_for(self, conversation_id: UUID) -> Handover | None: ...
    async def create(self, conversation_id: UUID, client_id: UUID, trigger_type: TriggerType,
                     trigger_value: str | None, user_message: str | None,
                     trigger_detail: dict[str, Any] | None = None) -> Handover: ...
    async def update(self, handover_id: UUID, **fields: Any) -> None: ...

    async def claim_reminder(self, handover_id: UUID, step: Due) -> Handover | None:
        """Mark the reminder sent, atomically; None when another run got it first or the
        handover moved on (so a reminder goes out once however many schedulers race)."""
        ...


class OutboxRepo(Protocol):
    async def enqueue(self, client_id: UUID, message: OutboundMessage, key: str) -> bool:
        """Queue a delivery; False when one with this idempotency key exists (nothing written)."""
        ...

    async def fail(self, delivery: Delivery, error: str) -> bool:
        """Give a claimed delivery up; False when another worker has taken it over."""
        ...

    async def retry_failed(self, key: str, failed_before: timedelta) -> bool:
        """Make the row with this idempotency key due again (attempts from zero) when it was
        given up at least `failed_before` ago; False when there is no such row."""
        ...


class AuditRepo(Protocol):
    async def record(self, client_id: UUID | None, entry: AuditEntry) -> None: ...


class InboxRepo(Protocol):
    async def mark_done(self, claims: Sequence[tuple[int, int]]) -> None:
        """Mark events done; `claims` are (event id, attempt) pairs as claimed. Raises LostClaim
        when any of them has been claimed again since."""
        ...

    async def mark_failed(self, claims: Sequence[tuple[int, int]], error: str) -> None:
        """The same for a turn given up."""
        ...


class Tx(Protocol):
    """One database transaction, with the repositories bound to it."""

    conversations: ConversationsRepo
    messages: MessagesRepo
    handovers: HandoversRepo
    outbox: OutboxRepo
    audit: AuditRepo
    inbox: InboxRepo

    async def now(self) -> datetime: ...


class Store(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    def reads(self) -> AbstractAsyncContextManager[Tx]:
        """The repositories for reads that need no transaction (each statement reads its own
        snapshot): nothing to open or commit."""
        ...

    async def record_answer(self, turn: AnsweredTurn) -> bool:
        """Write a turn that only answers in one statement; False when the conversation is no
        longer as the turn saw it (nothing written). Raises LostClaim as `InboxRepo.mark_done`
        (nothing written either)."""
        ...


class Tenants(Protocol):
    """Read access to tenant configuration (settings take effect without a restart)."""

    async def client(self, client_id: UUID) -> Client | None: ...
    async def client_by_slug(self, slug: str) -> Client | None: ...
    async def all_clients(self) -> list[Client]: ...
    async def branch(self, branch_id: UUID) -> Branch | None: ...

    async def resolve_branch(self, client: Client, instance_id: str | None) -> Branch | None:
        """The branch an inbound message belongs to (PRODUCT.md §2 routing)."""
        ...

    async def system_prompt(self, client_id: UUID) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Accepted:
    conversation_id: UUID
    event_id: int | None  # None: a duplicate of a message stored before (nothing was written)


class Inbox(Protocol):
    async def accept(self, client: Client, branch: Branch | None, message: InboundMessage,
                     raw: Any = None) -> Accepted:
        """Store the customer, their conversation and the message durably, in one
        transaction, de-duplicated on the provider message id."""
        ...

    async def conversation_for(self, client: Client, branch: Branch | None, remote_jid: str, *,
                               name: str | None = None, channel: str = "whatsapp") -> UUID:
        """The customer's conversation, made on first contact (for channels that answer at once
        instead of queueing: the console chat, the legacy `/message`)."""
        ...


# --------------------------------------------------------------------------- scheduled work


@dataclass(frozen=True, slots=True)
class WaitingHandover:
    handover: Handover
    has_topic: bool  # reminders are replies in the customer's topic: none without one
    branch_id: UUID | None = None  # whose working hours apply (else the client's)


class Maintenance(Protocol):
    """The scheduler's queries over every tenant."""

    async def now(self) -> datetime:
        """The database's clock: the scheduled passes' time unless a clock is injected."""
        ...

    async def waiting_handovers(self, limit: int, now: datetime | None = None
                                ) -> tuple[datetime, list[WaitingHandover]]:
        """The clock's now (the database's unless `now` is given: an injected clock) and the
        pending handovers that may be due something then, oldest first."""
        ...

    async def heal_suspects(self, limit: int = 1000) -> list[UUID]: ...

    async def cardless_handovers(self, older_than: timedelta, limit: int = 500) -> list[UUID]:
        """Pending handovers of clients with a desk bot, opened more than `older_than` ago, whose
        request card was never posted and is not on its way (its delivery given up `older_than`
        ago or more, or missing): the self-heal queues their card again."""
        ...

    async def requeue_orphan_events(self) -> int:
        """Put conversations whose events wait outside the turn queue back in it."""
        ...

    async def prune_sent_outbox(self, older_than: timedelta) -> int: ...

    async def prune_messages(self, default_days: int) -> tuple[int, int]:
        """Delete message history (messages, handled inbound events) older than each client's
        retention (`message_retention_days`, else `default_days`; 0 keeps it); returns
        (messages, events) deleted."""
        ...

    async def claim_daily_report(
        self, client_id: UUID, due: DailyReport,
        compose: Callable[[ReportFigures], Sequence[tuple[OutboundMessage, str]]],
    ) -> bool:
        """Claim the client's daily report of `due.day` and queue the deliveries (message,
        idempotency key) `compose` makes of the figures of its period, in one transaction;
        False (nothing queued) when it was claimed before."""
        ...


# --------------------------------------------------------------------------- the LLM


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    client: Client
    system_prompt: str | None
    question: str
    history: Sequence[HistoryLine]
    knowledge_tag: str | None
    query_vector: Sequence[float] | None = None  # the question's embedding, when known already
    language: str | None = None  # the customer's (core.language): the answer's language
    desk: bool = True  # a person can be reached (core.models.has_desk): texts may offer one


class LanguageModel(Protocol):
    """An OpenAI-compatible chat model (adapter in `ai/llm.py`)."""

    async def complete(self, messages: list[dict[str, str]], *, max_tokens: int = 500,
                       temperature: float = 0.3) -> Result[str]: ...

    async def classify(self, text: str, topics: Sequence[PolicyTopic]
                       ) -> Result[tuple[Intent, str | None]]:
        """Intent and the policy topic it is about (or None); a failure with the reason if untrusted."""


class Transcriber(Protocol):
    """Speech to text (`ai/transcription.py`): the audio at `url` (the provider's media link)
    as text, or a failure; never raises for the peer's errors."""

    async def transcribe(self, url: str, *, mimetype: str | None = None) -> Result[str]: ...


# --------------------------------------------------------------------------- delivery, time


class Sender(Protocol):
    """Delivers one outbox item over a channel. Never raises for peer errors: answers an
    outcome. A message with `on_failed` has that note queued once when it is given up (e.g.
    "❌ Не доставлено" to the manager)."""

    async def deliver(self, delivery: Delivery) -> DeliveryOutcome: ...


class DeliveryProgress(Protocol):
    async def record(self, delivery_id: int, progress: dict[str, Any]) -> None:
        """Note, in a row still being delivered, what is done already (the next attempt gets
        it as `Delivery.progress` and resumes from there)."""
        ...


class Leadership(Protocol):
    """Which replica runs the scheduled work (a lock shared by the replicas)."""

    @property
    def is_leader(self) -> bool: ...

    async def check(self) -> bool:
        """True while this process holds the lock (taking it when it is free)."""
        ...

    async def release(self) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


# --------------------------------------------------------------------------- alerts


class AlertDecision(StrEnum):
    SENT = "sent"
    DUPLICATE = "deduplicated"  # the same key was sent within the repeat window
    RATE_LIMITED = "rate_limited"  # over the hourly budget of alerts


@dataclass(frozen=True, slots=True)
class AlertClaim:
    decision: AlertDecision
    count: int  # how often the key was seen, this time included
    sent_at: datetime | None = None  # when this claim sent it (SENT only)


class AlertLog(Protocol):
    """The alerts seen, shared by every replica (`core.alerts`)."""

    async def claim(self, key: str, kind: str, client_id: UUID | None, *, repeat: timedelta,
                    per_hour: int) -> AlertClaim:
        """Record one occurrence of `key`, atomically across replicas: SENT (the caller sends
        it) when nothing was sent for it within `repeat` and fewer than `per_hour` alerts were
        sent in the last hour."""
        ...

    async def hold(self, key: str, text: str) -> None:
        """The operator's chat did not take the alert of `key`: keep its text to hand over later."""
        ...

    async def held(self, limit: int) -> list[tuple[str, str, datetime]]:
        """Alerts held for the operator's chat, oldest first: (key, text, held since)."""
        ...

    async def handed_over(self, key: str) -> None:
        """The held alert of `key` reached the operator's chat."""
        ...


class AlertNotifier(Protocol):
    """The operator's alert chat (`channels/telegram/alerts.py`). Raises when not delivered."""

    async def notify(self, text: str) -> None: ...
