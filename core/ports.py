"""The interfaces the domain talks through. Adapters in `storage/`, `channels/` and `ai/` implement
them; `gateway/app.py` plugs them in. Nothing here knows SQL, HTTP or an SDK."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from core.knowledge_types import (
    DocumentInfo,
    Passage,
    PointRecord,
    ScoreThresholds,
    SearchHit,
    SearchQuery,
)
from core.models import (
    Branch,
    Client,
    Conversation,
    Customer,
    Handover,
    HistoryLine,
    Intent,
    Role,
    State,
    TriggerType,
)
from core.result import Result


@dataclass(frozen=True, slots=True)
class OutboundItem:
    """One delivery to write to the outbox, in the transaction of the state it belongs to."""

    channel: str  # "whatsapp" | "telegram" | "console"
    kind: str
    payload: dict[str, Any]
    idempotency_key: str
    conversation_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor_type: str  # "manager" | "operator" | "system" | "customer"
    action: str
    actor_id: str | None = None
    actor_name: str | None = None
    handover_id: UUID | None = None
    conversation_id: UUID | None = None
    details: dict[str, Any] = field(default_factory=dict)


class ConversationsRepo(Protocol):
    async def get(self, conversation_id: UUID, *, for_update: bool = False) -> Conversation | None: ...
    async def set_state(self, conversation_id: UUID, state: State) -> None: ...
    async def update(self, conversation_id: UUID, **fields: Any) -> None: ...
    async def customer(self, conversation_id: UUID) -> Customer: ...


class MessagesRepo(Protocol):
    async def add(self, conversation_id: UUID, role: Role, content: str, *,
                  provider_message_id: str | None = None,
                  metadata: dict[str, Any] | None = None) -> int: ...
    async def history(self, conversation_id: UUID, limit: int) -> list[HistoryLine]: ...


class HandoversRepo(Protocol):
    async def open_for(self, conversation_id: UUID, *, for_update: bool = False) -> Handover | None: ...
    async def get(self, handover_id: UUID, *, for_update: bool = False) -> Handover | None: ...
    async def latest_for(self, conversation_id: UUID) -> Handover | None: ...
    async def create(self, conversation_id: UUID, client_id: UUID, trigger_type: TriggerType,
                     trigger_value: str | None, user_message: str | None) -> Handover: ...
    async def update(self, handover_id: UUID, **fields: Any) -> None: ...


class OutboxRepo(Protocol):
    async def enqueue(self, client_id: UUID, item: OutboundItem) -> bool: ...


class AuditRepo(Protocol):
    async def record(self, client_id: UUID | None, entry: AuditEntry) -> None: ...


class LostClaim(Exception):
    """The turn's events were claimed again by another worker after this one's lease ran out:
    this worker's result must not be applied."""


class InboxRepo(Protocol):
    async def mark_done(self, claims: Sequence[tuple[int, int]]) -> None:
        """Mark events done; `claims` are (event id, attempt) pairs as claimed. Raises LostClaim
        when any of them has been claimed again since."""
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


class Tenants(Protocol):
    """Read access to tenant configuration (settings take effect without a restart)."""

    async def client(self, client_id: UUID) -> Client | None: ...
    async def branch(self, branch_id: UUID) -> Branch | None: ...
    async def system_prompt(self, client_id: UUID) -> str | None: ...


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    client: Client
    system_prompt: str | None
    question: str
    history: Sequence[HistoryLine]
    knowledge_tag: str | None


class LanguageModel(Protocol):
    """An OpenAI-compatible chat model (adapter in `ai/llm.py`)."""

    async def complete(self, messages: list[dict[str, str]], *, max_tokens: int = 500,
                       temperature: float = 0.3) -> Result[str]: ...

    async def classify(self, text: str, topics: Sequence[tuple[str, str]]
                       ) -> Result[tuple[Intent, str | None]]:
        """Intent, and the name of a policy topic the text is about (or None)."""
        ...


# --------------------------------------------------------------------------- knowledge


class Embedder(Protocol):
    """An embedding model. `name` identifies model and dimension (it names collections);
    `thresholds` are the model's calibrated cosine thresholds."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def thresholds(self) -> ScoreThresholds: ...

    async def embed_queries(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def aclose(self) -> None: ...


class VectorStore(Protocol):
    """Tenant-filtered chunk storage. Every method that reads or deletes takes the client."""

    @property
    def collection(self) -> str: ...

    async def ensure_collection(self, dim: int) -> None:
        """Create the collection (and payload indexes) or check an existing one's dimension;
        raise VectorStoreError with a clear message on a mismatch."""

    async def upsert(self, points: Sequence[PointRecord]) -> None: ...

    async def delete_points(self, ids: Sequence[str]) -> None: ...

    async def delete_document(self, client_slug: str, doc_name: str, source: str) -> int:
        """Delete one document's chunks of the given source; return how many there were."""

    async def point_ids(self, client_slug: str, doc_name: str, source: str) -> set[str]: ...

    async def search(self, query: SearchQuery) -> list[SearchHit]: ...

    async def list_documents(self, client_slug: str) -> list[DocumentInfo]: ...

    async def count(self, client_slug: str | None = None) -> int: ...

    async def aclose(self) -> None: ...


class KnowledgeSearch(Protocol):
    """What the answer stage needs: passages of one tenant (and branch tag), best first, and
    the no-LLM answer taken from them."""

    async def search(
        self, client_slug: str, query: str, *, knowledge_tag: str | None = None, limit: int = 5
    ) -> Result[list[Passage]]: ...

    def best_answer(self, passages: Sequence[Passage], question: str | None = None) -> str | None: ...
