"""The knowledge-base service (PRODUCT.md §7): ingestion, retrieval and learned answers over one
embedder and one vector store (ports implemented in `ai/` and `storage/vectors/`)."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from core.answer_extraction import (
    LEARNED_ANSWER,
    LEARNED_QUESTION,
    MIN_ANSWER_COVERAGE,
    extract_answer,
    learned_content,
)
from core.chunking import chunk_document
from core.knowledge_types import (
    LEARNED_DOC_NAME,
    SOURCE_DOCUMENT,
    SOURCE_LEARNED,
    DocumentInfo,
    IngestReport,
    Passage,
    PointRecord,
    RetrievalMode,
    ScoreThresholds,
    SearchHit,
    SearchQuery,
)
from core.lexical import lexical_coverage
from core.ports import Embedder, VectorStore
from core.result import Result

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 1000
# Namespace of the stable point ids; changing it would orphan every stored point.
POINT_ID_NAMESPACE = uuid.UUID("5b1f6c2e-7f43-4d0e-9d55-2f1c8a7e4b10")


def point_id(
    client_slug: str, doc_name: str, source: str, index: int, text: str, knowledge_tag: str | None
) -> str:
    """Stable id: the same chunk of the same document always lands on the same point."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    key = "\x1f".join((client_slug, source, doc_name, str(index), knowledge_tag or "", digest))
    return str(uuid.uuid5(POINT_ID_NAMESPACE, key))


def make_payload(
    content: str, client_slug: str, doc_name: str, source: str, knowledge_tag: str | None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "client_slug": client_slug,
        "doc_name": doc_name,
        "source": source,
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if knowledge_tag:
        metadata["knowledge_tag"] = knowledge_tag
    return {"content": content, "metadata": metadata}


def passage_from_hit(hit: SearchHit) -> Passage:
    metadata = hit.payload.get("metadata") or {}
    return Passage(
        content=str(hit.payload.get("content", "")),
        doc_name=str(metadata.get("doc_name", "")),
        source=str(metadata.get("source", SOURCE_DOCUMENT)),
        score=hit.score,
        knowledge_tag=metadata.get("knowledge_tag"),
    )


class KnowledgeBase:
    """Ingestion, retrieval and learned answers over one embedder and one vector store."""

    def __init__(
        self,
        embedder: Embedder,
        store: VectorStore,
        *,
        thresholds: ScoreThresholds | None = None,
        mode: RetrievalMode = RetrievalMode.HYBRID,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.thresholds = thresholds or embedder.thresholds
        self.mode = mode

    async def aclose(self) -> None:
        await self.embedder.aclose()
        await self.store.aclose()

    async def ingest_document(
        self,
        client_slug: str,
        doc_name: str,
        text: str,
        knowledge_tag: str | None = None,
        source: str = SOURCE_DOCUMENT,
    ) -> IngestReport:
        """Make the stored chunks of (client, doc_name, source) equal to `text`'s chunks.

        Only chunks that are new are embedded; unchanged ones keep their points, so a
        re-ingest of the same text writes nothing. New points land before stale ones are
        removed, so the document never disappears from search mid-update.
        """
        chunks = chunk_document(text)
        wanted = {
            point_id(client_slug, doc_name, source, c.index, c.text, knowledge_tag): c
            for c in chunks
        }
        existing = await self.store.point_ids(client_slug, doc_name, source)
        new_ids = [pid for pid in wanted if pid not in existing]
        if new_ids:
            vectors = await self.embedder.embed_passages([wanted[pid].text for pid in new_ids])
            await self.store.upsert([
                PointRecord(
                    id=pid,
                    vector=vector,
                    payload=make_payload(
                        wanted[pid].text, client_slug, doc_name, source, knowledge_tag
                    ),
                )
                for pid, vector in zip(new_ids, vectors, strict=True)
            ])
        stale = sorted(existing - wanted.keys())
        if stale:
            await self.store.delete_points(stale)
        return IngestReport(doc_name, len(chunks), added=len(new_ids), removed=len(stale))

    async def delete_document(self, client_slug: str, doc_name: str) -> int:
        """Remove a document's `document` chunks (learned entries are never touched)."""
        return await self.store.delete_document(client_slug, doc_name, SOURCE_DOCUMENT)

    async def list_documents(self, client_slug: str) -> list[DocumentInfo]:
        return await self.store.list_documents(client_slug)

    async def embed_query(self, text: str) -> list[float]:
        """The embedding a search of `text` uses: the one place that prepares a query, so that
        a caller embedding the turn once (the decision layer) gets the vector search expects.
        A query is cut to MAX_QUERY_CHARS: a question is short, and the model's time grows with
        its input (one customer pasting pages must not hold the embedder for everyone)."""
        return (await self.embedder.embed_queries([text[:MAX_QUERY_CHARS]]))[0]

    async def search(
        self,
        client_slug: str,
        query: str,
        *,
        knowledge_tag: str | None = None,
        limit: int = 5,
        mode: RetrievalMode | None = None,
        query_vector: Sequence[float] | None = None,
    ) -> Result[list[Passage]]:
        """KnowledgeSearch: never raises; embedder or store trouble is `rag_error`.
        `query_vector`: the query's embedding when the caller has it already (one embedding per
        turn serves the decision layer and retrieval)."""
        if not query.strip():
            return Result.success([])
        try:
            vector = list(query_vector) if query_vector is not None else \
                await self.embed_query(query)
            hits = await self.store.search(SearchQuery(
                vector=vector,
                text=query,
                client_slug=client_slug,
                knowledge_tag=knowledge_tag,
                limit=limit,
                score_threshold=self.thresholds.search,
                mode=mode or self.mode,
            ))
        except Exception as exc:  # the answer stage degrades on any retrieval failure
            log.warning("knowledge search failed: %s", exc, extra={"client_slug": client_slug})
            return Result.failure("rag_error", _one_line(exc))
        return Result.success([passage_from_hit(hit) for hit in hits])

    def best_answer(self, passages: Sequence[Passage], question: str | None = None) -> str | None:
        """No-LLM mode: the answer from the top-ranked passage when it is confident (dense
        score at the answer threshold and, given the question, enough lexical overlap)."""
        if not passages:
            return None
        best = passages[0]
        if best.score < self.thresholds.answer:
            return None
        if question is not None and lexical_coverage(question, best.content) < MIN_ANSWER_COVERAGE:
            return None
        return extract_answer(best) or None

    async def learn(self, client_slug: str, question: str, answer: str) -> str:
        """Store a manager's answer as `source=learned`; return its point id.

        Learned entries whose question is near-identical to this one (cosine of the two
        questions at or above the duplicate threshold) are replaced, so a question asked
        again and answered again does not pile up copies.
        """
        question, answer = question.strip(), answer.strip()
        if not question or not answer:
            raise ValueError("question and answer must not be empty")
        content = learned_content(question, answer)
        content_vector, question_vector = await self.embedder.embed_passages([content, question])
        candidates = await self.store.search(SearchQuery(
            vector=content_vector,
            text=question,
            client_slug=client_slug,
            source=SOURCE_LEARNED,
            limit=5,
            mode=RetrievalMode.DENSE,
        ))
        new_id = point_id(client_slug, LEARNED_DOC_NAME, SOURCE_LEARNED, 0, question.lower(), None)
        duplicates = await self._duplicate_questions(question_vector, candidates, new_id)
        await self.store.upsert([PointRecord(
            id=new_id,
            vector=content_vector,
            payload=make_payload(content, client_slug, LEARNED_DOC_NAME, SOURCE_LEARNED, None),
        )])
        if duplicates:
            await self.store.delete_points(duplicates)
        return new_id

    async def _duplicate_questions(
        self, question_vector: list[float], candidates: list[SearchHit], new_id: str
    ) -> list[str]:
        others = [hit for hit in candidates if hit.id != new_id]
        questions = [_learned_question(str(hit.payload.get("content", ""))) for hit in others]
        if not others:
            return []
        vectors = await self.embedder.embed_passages(questions)
        return [
            hit.id
            for hit, vector in zip(others, vectors, strict=True)
            if _cosine(question_vector, vector) >= self.thresholds.duplicate
        ]


def _learned_question(content: str) -> str:
    first = content.split(f"\n{LEARNED_ANSWER}", 1)[0]
    return first.removeprefix(LEARNED_QUESTION).strip() or content


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = (sum(x * x for x in a) * sum(y * y for y in b)) ** 0.5
    return dot / norm if norm else 0.0


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
