"""Knowledge values (PRODUCT.md §7): passages, chunks to store, search queries and hits, the
thresholds of an embedding model, and the two errors retrieval can raise. Payloads follow
WIRE.md §3: `{content, metadata: {client_slug, doc_name, source, updated_at, knowledge_tag?}}`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

SOURCE_DOCUMENT = "document"
SOURCE_LEARNED = "learned"
LEARNED_DOC_NAME = "learned"


class EmbeddingError(Exception):
    """The embedding model failed or is unreachable (one human line)."""


class VectorStoreError(Exception):
    """The vector store failed or is misconfigured (one human line)."""


class RetrievalMode(StrEnum):
    DENSE = "dense"
    LEXICAL = "lexical"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True)
class ScoreThresholds:
    """Cosine thresholds of one embedding model (each embedder adapter carries its own).

    search: passages below are dropped; answer: the no-LLM mode answers with the best
    passage only at or above it; duplicate: a learned entry this close replaces the old one.
    """

    search: float
    answer: float
    duplicate: float


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk. `score` is the dense cosine similarity to the query, comparable
    with the embedder's thresholds whatever the ranking (dense, lexical or fused) was."""

    content: str
    doc_name: str
    source: str  # "document" | "learned"
    score: float
    knowledge_tag: str | None = None


@dataclass(frozen=True, slots=True)
class PointRecord:
    """One chunk to store. The store derives the lexical vector from `payload["content"]`."""

    id: str
    vector: list[float]
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    score: float  # dense cosine similarity (see Passage.score)
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    doc_name: str
    source: str
    chunks: int
    updated_at: str | None
    knowledge_tag: str | None = None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    vector: list[float]
    text: str
    client_slug: str
    knowledge_tag: str | None = None
    source: str | None = None
    limit: int = 5
    score_threshold: float | None = None
    mode: RetrievalMode = RetrievalMode.HYBRID


@dataclass(frozen=True, slots=True)
class IngestReport:
    doc_name: str
    chunks: int
    added: int
    removed: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)
