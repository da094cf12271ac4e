"""Knowledge values (PRODUCT.md §7): passages, chunks to store, search queries and hits, the
thresholds of an embedding model, and the two errors retrieval can raise. Payloads follow
WIRE.md §3: `{content, metadata: {client_slug, doc_name, source, updated_at, knowledge_tag?}}`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy and pymorphy3, which they load, are for searches, not for every command
    from core.no_answer import NoAnswerModel
    from core.query_map import QueryMap

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

    search: chunks below are dropped; answer and margin: a search finds something only when
    its best chunk is at or above `answer` *and* stands out of the candidates by `margin`
    (its cosine minus the mean of the best MARGIN_POOL candidates'; a question the base cannot
    answer scores flat) and, below `anchored`, shares a word with the question; otherwise the
    question counts as one the base cannot answer (with a `no_answer` model, the model decides
    past `answer` instead of the margin and the word); learned: a
    learned answer whose question is at least this close to the customer's ranks first;
    duplicate: a learned entry this close replaces the old one.
    """

    search: float
    answer: float
    duplicate: float
    margin: float = 0.0
    anchored: float = 0.0
    learned: float = 0.9  # a learned answer whose question is this close goes first
    # Fusion of the hybrid candidates (core.fusion): dense cosine + lexical_weight x the
    # lexical score relative to the best one + coverage_weight x the share of the question's
    # n-grams found + kind_weight x the kinds of fact asked for that the line states +
    # name_weight x the share of the line's name the question names - language_weight for a
    # Kazakh line when the question is not in Kazakh.
    lexical_weight: float = 0.05
    coverage_weight: float = 0.05
    kind_weight: float = 0.03
    name_weight: float = 0.0
    language_weight: float = 0.0
    # When set (hybrid search), decides instead of `margin` and `anchored` (core.no_answer).
    no_answer: NoAnswerModel | None = None
    # When set, a search maps its query vector by it first (core.query_map); the thresholds
    # above hold for the mapped query's cosines.
    query_map: QueryMap | None = None


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved section. `content` is what is handed over: the heading path and the lines of
    the section around the chunks that matched (a learned entry whole); `matched` are those
    fact-sized chunks' own lines, best first (what a no-LLM answer quotes). `score` is the best
    matched chunk's dense cosine similarity to the query, comparable with the embedder's
    thresholds whatever the ranking (dense, lexical, fused or re-ranked) was."""

    content: str
    doc_name: str
    source: str  # "document" | "learned"
    score: float
    knowledge_tag: str | None = None
    matched: tuple[str, ...] = ()
    matched_scores: tuple[float | None, ...] = ()  # each matched line's fused score
    # The part of a question asking two things that this passage was searched for on its own
    # (after the whole question's passages); None for the whole question's.
    part: str | None = None


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
    lexical: float = 0.0  # the lexical branch's score (0 when it did not return the point)
    fused: float | None = None  # the hybrid fusion's score (`core.fusion`), None before fusion


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    doc_name: str
    source: str
    chunks: int
    updated_at: str | None
    knowledge_tag: str | None = None
    aliases: tuple[tuple[str, ...], ...] = ()  # name pairs ingestion learnt from its headings


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """`limit`: points per retrieval branch. A hybrid search answers the candidates of both
    branches (dense nearest and lexical best), each with both scores, for the caller to fuse
    (`core.fusion`); dense and lexical searches answer their own ranking."""

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


@dataclass(frozen=True, slots=True)
class ArchivedDocument:
    """A document's text as it was ingested (`KnowledgeArchive`): what a rebuild embeds again."""

    client_slug: str
    doc_name: str
    content: str
    knowledge_tag: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LearnedAnswer:
    """A manager's approved answer; `id` is its point in the vector store."""

    id: str
    client_slug: str
    question: str
    answer: str
    knowledge_tag: str | None = None
    created_at: datetime | None = None
