"""The knowledge-base service (PRODUCT.md §7): ingestion, retrieval and learned answers over one
embedder and one vector store (ports implemented in `ai/` and `storage/vectors/`)."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from core.answer_extraction import asking_parts, compose_answer, learned_content
from core.chunking import Chunk, chunk_document, split_heading
from core.confidence import confident, hit_source
from core.fusion import fuse, settle_close_call
from core.knowledge_types import (
    LEARNED_DOC_NAME,
    SOURCE_DOCUMENT,
    SOURCE_LEARNED,
    ArchivedDocument,
    DocumentInfo,
    IngestReport,
    LearnedAnswer,
    Passage,
    PointRecord,
    RetrievalMode,
    ScoreThresholds,
    SearchHit,
    SearchQuery,
)
from core.part_search import part_passages
from core.passages import passages_from_hits
from core.ports import Embedder, KnowledgeArchive, Reranker, VectorStore
from core.query_text import (
    NormalizedQuery,
    normalize_for_embedding,
    normalize_query,
)
from core.result import Result
from core.synonyms import Lexicon, learn_aliases

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 1000
# Namespace of the stable point ids; changing it would orphan every stored point.
POINT_ID_NAMESPACE = uuid.UUID("5b1f6c2e-7f43-4d0e-9d55-2f1c8a7e4b10")


# Fact-sized chunks each retrieval branch hands to the fusion before they are grouped into
# passages.
CANDIDATES = 30
LEXICON_TTL_SECONDS = 300.0


def point_id(
    client_slug: str, doc_name: str, source: str, index: int, text: str, knowledge_tag: str | None
) -> str:
    """Stable id: the same chunk of the same document always lands on the same point. `text`
    is everything stored with the chunk (its line and its section), so an edit anywhere in a
    section replaces the section's points."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    key = "\x1f".join((client_slug, source, doc_name, str(index), knowledge_tag or "", digest))
    return str(uuid.uuid5(POINT_ID_NAMESPACE, key))


def make_payload(
    content: str, client_slug: str, doc_name: str, source: str, knowledge_tag: str | None,
    *, section: str | None = None, aliases: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """WIRE.md §3's payload; a document chunk also carries its section (handed over by a
    search) and the name pairs learnt from its heading (`metadata.aliases`)."""
    metadata: dict[str, Any] = {
        "client_slug": client_slug,
        "doc_name": doc_name,
        "source": source,
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if knowledge_tag:
        metadata["knowledge_tag"] = knowledge_tag
    if aliases:
        metadata["aliases"] = [list(pair) for pair in aliases]
    payload: dict[str, Any] = {"content": content, "metadata": metadata}
    if section and section != content:
        payload["section"] = section
    return payload


def chunk_aliases(chunk: Chunk) -> list[tuple[str, str]]:
    """Name pairs of a chunk's heading path and of its row or item name."""
    heading, unit = split_heading(chunk.text)
    return learn_aliases([*heading.split(" > "), unit.split(" — ")[0]])



class KnowledgeBase:
    """Ingestion, retrieval and learned answers over one embedder and one vector store, with
    an optional re-ranking stage. With an `archive`, every document's text and learned answer
    is also kept there (PostgreSQL), so the vectors can be made again (`core.knowledge_rebuild`)."""

    def __init__(
        self,
        embedder: Embedder,
        store: VectorStore,
        *,
        thresholds: ScoreThresholds | None = None,
        mode: RetrievalMode = RetrievalMode.HYBRID,
        reranker: Reranker | None = None,
        archive: KnowledgeArchive | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.archive = archive
        self.thresholds = thresholds or embedder.thresholds
        self.mode = mode
        self.reranker = reranker
        self._lexicons: dict[str, tuple[float, Lexicon]] = {}

    async def aclose(self) -> None:
        await self.embedder.aclose()
        await self.store.aclose()
        if self.reranker is not None:
            await self.reranker.aclose()

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
        removed, so the document never disappears from search mid-update. The text is archived
        first: a document whose embedding fails is not lost (the next ingest or a rebuild
        indexes it).
        """
        if self.archive is not None and source == SOURCE_DOCUMENT:
            await self.archive.save_document(
                ArchivedDocument(client_slug, doc_name, text, knowledge_tag))
        return await self.index_document(client_slug, doc_name, text, knowledge_tag, source)

    async def index_document(
        self, client_slug: str, doc_name: str, text: str, knowledge_tag: str | None = None,
        source: str = SOURCE_DOCUMENT, *, fresh: bool = False,
    ) -> IngestReport:
        """The vector half of `ingest_document` (the archive is not touched). `fresh`: embed
        every chunk again, not only the new ones (a rebuild)."""
        chunks = chunk_document(text)
        wanted = {
            point_id(client_slug, doc_name, source, c.index, f"{c.text}\x1e{c.section}",
                     knowledge_tag): c
            for c in chunks
        }
        existing = await self.store.point_ids(client_slug, doc_name, source)
        new_ids = list(wanted) if fresh else [pid for pid in wanted if pid not in existing]
        if new_ids:
            vectors = await self.embedder.embed_passages(
                [wanted[pid].embedding_text for pid in new_ids])
            await self.store.upsert([
                PointRecord(
                    id=pid,
                    vector=vector,
                    payload=make_payload(
                        wanted[pid].text, client_slug, doc_name, source, knowledge_tag,
                        section=wanted[pid].section, aliases=chunk_aliases(wanted[pid]),
                    ),
                )
                for pid, vector in zip(new_ids, vectors, strict=True)
            ])
        stale = sorted(existing - wanted.keys())
        if stale:
            await self.store.delete_points(stale)
        if new_ids or stale:
            self._lexicons.pop(client_slug, None)
        return IngestReport(doc_name, len(chunks), added=len(new_ids), removed=len(stale))

    async def delete_document(self, client_slug: str, doc_name: str) -> int:
        """Remove a document's `document` chunks and its archived text (learned entries are
        never touched); the chunks removed (at least 1 when only its text was kept)."""
        self._lexicons.pop(client_slug, None)
        archived = await self.archive.delete_document(client_slug, doc_name) \
            if self.archive is not None else False
        removed = await self.store.delete_document(client_slug, doc_name, SOURCE_DOCUMENT)
        return max(removed, int(archived))

    async def use_store(self, store: VectorStore) -> None:
        """Search and write `store` from now on (a rebuilt collection), and close the old one."""
        old, self.store = self.store, store
        self._lexicons.clear()
        await old.aclose()

    async def list_documents(self, client_slug: str) -> list[DocumentInfo]:
        return await self.store.list_documents(client_slug)

    async def embed_query(self, text: str) -> list[float]:
        """The embedding a search of `text` uses: the one place that prepares a query, so that
        a caller embedding the turn once (the decision layer) gets the vector search expects
        (the search maps it by the model's query map itself: the caller keeps the model's own).
        A query is cut to MAX_QUERY_CHARS: a question is short, and the model's time grows with
        its input (one customer pasting pages must not hold the embedder for everyone)."""
        return (await self.embedder.embed_queries(
            [normalize_for_embedding(text[:MAX_QUERY_CHARS])]))[0]

    async def lexicon(self, client_slug: str, synonyms: Sequence[Sequence[str]] = ()) -> Lexicon:
        """The client's synonym list: built-in groups, the pairs its documents taught at
        ingestion (cached a few minutes; another process may ingest), and `synonyms`."""
        cached = self._lexicons.get(client_slug)
        if cached is None or time.monotonic() - cached[0] > LEXICON_TTL_SECONDS:
            learned = {pair for document in await self.store.list_documents(client_slug)
                       for pair in document.aliases}
            cached = (time.monotonic(), Lexicon.for_client(sorted(learned)))
            self._lexicons[client_slug] = cached
        return Lexicon([*cached[1].groups, *synonyms]) if synonyms else cached[1]

    async def search(
        self,
        client_slug: str,
        query: str,
        *,
        knowledge_tag: str | None = None,
        limit: int = 5,
        mode: RetrievalMode | None = None,
        query_vector: Sequence[float] | None = None,
        synonyms: Sequence[Sequence[str]] = (),
    ) -> Result[list[Passage]]:
        """KnowledgeSearch: never raises; embedder or store trouble is `rag_error`.

        Fact-sized chunks are ranked (hybrid, then the re-ranker when there is one), a learned
        answer to this question goes first, and the chunks are grouped into passages of their
        sections. Nothing is found when the best chunk is not confident (`confident`).
        `query_vector`: the query's embedding when the caller has it already (one embedding per
        turn serves the decision layer and retrieval); `synonyms`: the client's own groups."""
        query = query[:MAX_QUERY_CHARS]
        if not query.strip():
            return Result.success([])
        try:
            vector = list(query_vector) if query_vector is not None else \
                await self.embed_query(query)
            hits, normalized = await self.candidates(
                client_slug, query, knowledge_tag=knowledge_tag, mode=mode,
                query_vector=vector, synonyms=synonyms)
        except Exception as exc:  # the answer stage degrades on any retrieval failure
            log.warning("knowledge search failed: %s", exc, extra={"client_slug": client_slug})
            return Result.failure("rag_error", _one_line(exc))
        if not hits or not confident(hits, normalized, query, self.thresholds):
            return Result.success([])
        if (mode or self.mode) is RetrievalMode.HYBRID and self.reranker is None:
            # after the confidence: it judges the fused best
            hits = settle_close_call(hits, normalized.lexical)
        passages = passages_from_hits(hits, limit)
        parts = asking_parts(query)
        if len(parts) > 1:
            try:
                passages += await part_passages(self, client_slug, parts, hits, vector, limit,
                                                knowledge_tag=knowledge_tag, mode=mode,
                                                synonyms=synonyms)
            except Exception as exc:  # the whole question's passages stand
                log.warning("part search failed: %s", exc, extra={"client_slug": client_slug})
        return Result.success(passages)

    async def candidates(
        self,
        client_slug: str,
        query: str,
        *,
        knowledge_tag: str | None = None,
        mode: RetrievalMode | None = None,
        query_vector: Sequence[float] | None = None,
        synonyms: Sequence[Sequence[str]] = (),
        rerank: bool = True,
        limit: int = CANDIDATES,
    ) -> tuple[list[SearchHit], NormalizedQuery]:
        """The ranked candidates of a search before the confidence check (fused, re-ranked
        unless told not to, a learned answer to this question first) and the normalised query;
        raises on embedder or store trouble. `limit`: candidates from each retrieval branch."""
        normalized = normalize_query(query, await self.lexicon(client_slug, synonyms))
        vector = list(query_vector) if query_vector is not None else \
            await self.embed_query(query)
        if self.thresholds.query_map is not None:
            vector = self.thresholds.query_map.apply(vector)
        hits = await self.store.search(SearchQuery(
            vector=vector,
            text=normalized.lexical,
            client_slug=client_slug,
            knowledge_tag=knowledge_tag,
            limit=limit,
            score_threshold=self.thresholds.search,
            mode=mode or self.mode,
        ))
        if (mode or self.mode) is RetrievalMode.HYBRID:
            hits = fuse(hits, query, normalized.lexical, self.thresholds,
                        lexical_limit=limit)
        if rerank and self.reranker is not None and len(hits) > 1:
            hits = await self.reranker.rerank(query, hits)
        return self._learned_first(hits), normalized

    def _learned_first(self, hits: list[SearchHit]) -> list[SearchHit]:
        """An approved answer to this very question (or a paraphrase: its stored question is
        this close) beats any document passage."""
        learned = [h for h in hits if hit_source(h) == SOURCE_LEARNED and
                   h.score >= self.thresholds.learned]
        return [*learned, *(h for h in hits if h not in learned)] if learned else hits

    def best_answer(self, passages: Sequence[Passage], question: str | None = None) -> str | None:
        """No-LLM mode: the lines that state the fact (see `compose_answer`), or None when
        nothing was found."""
        if not passages:
            return None
        return compose_answer(passages, question or "") or None

    async def learn(self, client_slug: str, question: str, answer: str,
                    knowledge_tag: str | None = None) -> str:
        """Store a manager's answer as `source=learned` (for one branch's tag, or the whole
        client); return its point id. The point's vector is the question's, so a search ranks
        it by how close the customer's question is to this one.

        Learned entries whose question is near-identical to this one (cosine at or above the
        duplicate threshold) are replaced, so a question asked again and answered again does
        not pile up copies.
        """
        question, answer = question.strip(), answer.strip()
        if not question or not answer:
            raise ValueError("question and answer must not be empty")
        question_vector, = await self.embedder.embed_passages([normalize_for_embedding(question)])
        candidates = await self.store.search(SearchQuery(
            vector=question_vector,
            text=question,
            client_slug=client_slug,
            knowledge_tag=knowledge_tag,
            source=SOURCE_LEARNED,
            limit=5,
            mode=RetrievalMode.DENSE,
        ))
        new_id = point_id(client_slug, LEARNED_DOC_NAME, SOURCE_LEARNED, 0, question.lower(),
                          knowledge_tag)
        duplicates = [hit.id for hit in candidates if hit.id != new_id and
                      hit.score >= self.thresholds.duplicate and
                      (hit.payload.get("metadata") or {}).get("knowledge_tag") == knowledge_tag]
        if self.archive is not None:
            await self.archive.save_learned(
                LearnedAnswer(new_id, client_slug, question, answer, knowledge_tag))
        await self.store.upsert([_learned_point(new_id, question_vector, client_slug, question,
                                                answer, knowledge_tag)])
        if duplicates:
            await self.store.delete_points(duplicates)
            if self.archive is not None:
                await self.archive.delete_learned(client_slug, duplicates)
        return new_id

    async def index_learned(self, answer: LearnedAnswer) -> None:
        """Store an archived learned answer's point again (a rebuild), under its own id."""
        vector, = await self.embedder.embed_passages([normalize_for_embedding(answer.question)])
        await self.store.upsert([_learned_point(answer.id, vector, answer.client_slug,
                                                answer.question, answer.answer,
                                                answer.knowledge_tag)])

    async def forget(self, client_slug: str, answer_id: str) -> bool:
        """Delete one learned answer of this client (its point and its archived text); False
        when the client has none with this id."""
        in_store = answer_id in await self.store.point_ids(client_slug, LEARNED_DOC_NAME,
                                                           SOURCE_LEARNED)
        if in_store:
            await self.store.delete_points([answer_id])
        archived = await self.archive.delete_learned(client_slug, [answer_id]) \
            if self.archive is not None else 0
        return in_store or archived > 0


def _learned_point(point: str, vector: list[float], client_slug: str, question: str,
                   answer: str, knowledge_tag: str | None) -> PointRecord:
    return PointRecord(id=point, vector=vector, payload=make_payload(
        learned_content(question, answer), client_slug, LEARNED_DOC_NAME, SOURCE_LEARNED,
        knowledge_tag))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
