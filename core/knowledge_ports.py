"""The knowledge base's ports (part of `core.ports`, which imports them from here: every port is
reached as `core.ports.X`): the embedding model, the vector store, an optional re-ranking stage,
and what the answer stage needs of it all (`KnowledgeSearch`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.knowledge_types import (
    ArchivedDocument,
    DocumentInfo,
    LearnedAnswer,
    Passage,
    PointRecord,
    ScoreThresholds,
    SearchHit,
    SearchQuery,
)
from core.result import Result


class Embedder(Protocol):
    """An embedding model. `name` identifies model and dimension (it names collections);
    `thresholds` are the model's calibrated cosine thresholds."""

    name: str
    dim: int
    thresholds: ScoreThresholds

    async def embed_queries(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def aclose(self) -> None: ...


class VectorArchive(Protocol):
    """Computed vectors kept between runs, by a key that names what they embed (the decision
    layer's example messages: embedding them again costs the bundled model ~14 s at each start)."""

    def load(self, key: str, rows: int) -> list[list[float]] | None:
        """The vectors stored under `key`, or None (none stored, or not `rows` of them)."""

    def save(self, key: str, vectors: Sequence[Sequence[float]]) -> None: ...


class EmbedderInFront:
    """An embedder in front of another for one concern (a cache, metrics), which overrides what
    it changes: the rest (name, dimension, thresholds, the calls, closing) is the inner one's."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dim(self) -> int:
        return self._inner.dim

    @property
    def thresholds(self) -> ScoreThresholds:
        return self._inner.thresholds

    async def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        return await self._inner.embed_queries(texts)

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return await self._inner.embed_passages(texts)

    async def aclose(self) -> None:
        await self._inner.aclose()


class VectorStore(Protocol):
    """Tenant-filtered chunk storage. Every method that reads or deletes takes the client."""

    collection: str

    async def ensure_collection(self, dim: int) -> None:
        """Create the collection and payload indexes; VectorStoreError on a dimension mismatch."""

    async def upsert(self, points: Sequence[PointRecord]) -> None: ...

    async def delete_points(self, ids: Sequence[str]) -> None: ...

    async def delete_document(self, client_slug: str, doc_name: str, source: str) -> int:
        """Delete one document's chunks of the given source; return how many there were."""

    async def point_ids(self, client_slug: str, doc_name: str, source: str) -> set[str]: ...

    async def payloads(self, client_slug: str, doc_name: str, source: str) -> dict[str, dict]:
        """One document's points: id → payload."""

    async def delete_client(self, client_slug: str) -> int:
        """Delete every point of a client; return how many there were."""

    async def search(self, query: SearchQuery) -> list[SearchHit]: ...

    async def list_documents(self, client_slug: str) -> list[DocumentInfo]: ...

    async def count(self, client_slug: str | None = None) -> int: ...

    async def aclose(self) -> None: ...


class KnowledgeArchive(Protocol):
    """The texts the vector store's points are made of, kept durably: documents as ingested and
    learned answers. What a rebuild embeds again. Keyed by client slug as the store is; a slug
    that names no client keeps nothing."""

    async def save_document(self, document: ArchivedDocument) -> None: ...

    async def delete_document(self, client_slug: str, doc_name: str) -> bool: ...

    async def documents(self, client_slug: str) -> list[ArchivedDocument]: ...

    async def save_learned(self, answer: LearnedAnswer) -> None: ...

    async def delete_learned(self, client_slug: str, ids: Sequence[str]) -> int: ...

    async def learned(self, client_slug: str, knowledge_tag: str | None = None
                      ) -> list[LearnedAnswer]:
        """A client's learned answers, oldest first; with a tag, that branch's only."""


class Reranker(Protocol):
    """A second ranking of a search's hits (cross-encoder, LLM); the input order on failure."""
    name: str

    async def rerank(self, question: str, hits: Sequence[SearchHit]) -> list[SearchHit]: ...
    async def aclose(self) -> None: ...


class KnowledgeSearch(Protocol):
    """What the answer stage needs: passages of one tenant (and branch tag), best first, and
    the no-LLM answer taken from them."""

    async def embed_query(self, text: str) -> list[float]: ...

    async def search(
        self, client_slug: str, query: str, *, knowledge_tag: str | None = None, limit: int = 5,
        query_vector: Sequence[float] | None = None, synonyms: Sequence[Sequence[str]] = (),
    ) -> Result[list[Passage]]: ...

    def best_answer(self, passages: Sequence[Passage], question: str | None = None) -> str | None: ...
