"""Knowledge ports, types and the knowledge-base service (PRODUCT.md §7).

Pure domain logic: the embedding model and the vector store are ports (`Embedder`,
`VectorStore`) implemented in `ai/` and `storage/vectors/`. Payloads follow WIRE.md §3:
`{content, metadata: {client_slug, doc_name, source, updated_at, knowledge_tag?}}`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from core.result import Result

log = logging.getLogger(__name__)

SOURCE_DOCUMENT = "document"
SOURCE_LEARNED = "learned"
LEARNED_DOC_NAME = "learned"

# Namespace of the stable point ids; changing it would orphan every stored point.
POINT_ID_NAMESPACE = uuid.UUID("5b1f6c2e-7f43-4d0e-9d55-2f1c8a7e4b10")


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk. `score` is the dense cosine similarity to the query, comparable
    with the embedder's thresholds whatever the ranking (dense, lexical or fused) was."""

    content: str
    doc_name: str
    source: str  # "document" | "learned"
    score: float
    knowledge_tag: str | None = None


class KnowledgeSearch(Protocol):
    """What the answer stage needs: passages of one tenant (and branch tag), best first, and
    the no-LLM answer taken from them."""

    async def search(
        self, client_slug: str, query: str, *, knowledge_tag: str | None = None, limit: int = 5
    ) -> Result[list[Passage]]: ...

    def best_answer(self, passages: Sequence[Passage], question: str | None = None) -> str | None: ...


# --------------------------------------------------------------------------- ports


class EmbeddingError(Exception):
    """The embedding model failed or is unreachable (one human line)."""


class VectorStoreError(Exception):
    """The vector store failed or is misconfigured (one human line)."""


class Embedder(Protocol):
    """An embedding model. `name` identifies model and dimension (it names collections)."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    async def embed_queries(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def aclose(self) -> None: ...


class RetrievalMode(StrEnum):
    DENSE = "dense"
    LEXICAL = "lexical"
    HYBRID = "hybrid"


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


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True, slots=True)
class ScoreThresholds:
    """Cosine thresholds of one embedding model.

    search: passages below are dropped; answer: the no-LLM mode answers with the best
    passage only at or above it; duplicate: a learned entry this close replaces the old one.
    """

    search: float
    answer: float
    duplicate: float


# multilingual-e5 scores are compressed into ~0.75-0.92: on the demo eval set the right chunk
# scored 0.80-0.90, off-topic questions ("какая погода?") 0.78-0.84 (knowledge/README.md).
_THRESHOLDS: dict[str, ScoreThresholds] = {
    "e5": ScoreThresholds(search=0.78, answer=0.8, duplicate=0.95),
    "bge-m3": ScoreThresholds(search=0.5, answer=0.6, duplicate=0.93),
    "text-embedding-3": ScoreThresholds(search=0.3, answer=0.45, duplicate=0.9),
}
_DEFAULT_THRESHOLDS = ScoreThresholds(search=0.5, answer=0.6, duplicate=0.93)


def thresholds_for(embedder_name: str) -> ScoreThresholds:
    """Per-model thresholds, matched on a family substring of the embedder name."""
    lowered = embedder_name.lower()
    for family, thresholds in _THRESHOLDS.items():
        if family in lowered:
            return thresholds
    return _DEFAULT_THRESHOLDS


# --------------------------------------------------------------------------- chunking

MAX_CHUNK_CHARS = 800
MIN_CHUNK_CHARS = 300
HEADING_SEPARATOR = " > "
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    text: str


def chunk_document(text: str) -> list[Chunk]:
    """Split markdown or plain text into chunks by headings, then paragraphs.

    Each chunk starts with its heading path ("Услуги > Маникюр") so that a chunk read alone
    (by the model, the lexical index or a customer in no-LLM mode) keeps its context.
    Paragraphs of one section are packed up to MAX_CHUNK_CHARS; sections never mix.
    """
    chunks: list[str] = []
    for path, paragraphs in _sections(text):
        prefix = HEADING_SEPARATOR.join(path)
        budget = MAX_CHUNK_CHARS - len(prefix) - 1
        for body in _pack(paragraphs, max(budget, MIN_CHUNK_CHARS)):
            chunks.append(f"{prefix}\n{body}" if prefix else body)
    return [Chunk(index=i, text=t) for i, t in enumerate(chunks)]


def _sections(text: str) -> list[tuple[list[str], list[str]]]:
    sections: list[tuple[list[str], list[str]]] = []
    path: list[tuple[int, str]] = []
    paragraphs: list[str] = []
    current: list[str] = []

    def end_paragraph() -> None:
        if current:
            paragraphs.append("\n".join(current).strip())
            current.clear()

    def end_section() -> None:
        end_paragraph()
        kept = [p for p in paragraphs if p]
        if kept:
            sections.append(([title for _, title in path], kept))
        paragraphs.clear()

    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        heading = _HEADING.match(line)
        if heading:
            end_section()
            level = len(heading.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level]
            path.append((level, heading.group(2).strip()))
        elif not line.strip():
            end_paragraph()
        else:
            current.append(line)
    end_section()
    return sections


def _pack(paragraphs: list[str], budget: int) -> list[str]:
    pieces: list[str] = []
    for paragraph in paragraphs:
        pieces.extend(_split_long(paragraph, budget))
    bodies: list[str] = []
    for piece in pieces:
        if bodies and len(bodies[-1]) + 2 + len(piece) <= budget:
            bodies[-1] = f"{bodies[-1]}\n\n{piece}"
        else:
            bodies.append(piece)
    return bodies


def _split_long(paragraph: str, budget: int) -> list[str]:
    """Split an over-long paragraph at line, then sentence, then word boundaries."""
    if len(paragraph) <= budget:
        return [paragraph]
    units = paragraph.split("\n") if "\n" in paragraph else _SENTENCE_END.split(paragraph)
    if len(units) == 1:
        units = paragraph.split(" ")
    parts: list[str] = []
    for unit in units:
        joiner = "\n" if "\n" in paragraph else " "
        if parts and len(parts[-1]) + 1 + len(unit) <= budget:
            parts[-1] = f"{parts[-1]}{joiner}{unit}"
        elif len(unit) > budget and unit != paragraph:
            parts.extend(_split_long(unit, budget))
        else:
            parts.append(unit[:budget] if len(unit) > budget else unit)
    return parts


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


# --------------------------------------------------------------------------- lexical

NGRAM = 3
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_DIGIT_GROUP = re.compile(r"(?<=\d)[\s\u00a0\u202f](?=\d{3}\b)")


def char_ngrams(text: str) -> list[str]:
    """Character 3-grams of the words of `text`: lower-cased, `ё` → `е`, digit groups joined
    ("5 000" → "5000"), each word padded with a space so word starts and ends count."""
    text = _DIGIT_GROUP.sub("", text.lower().replace("ё", "е"))
    grams: list[str] = []
    for word in _WORD.findall(text):
        padded = f" {word} "
        grams.extend(padded[i : i + NGRAM] for i in range(max(len(padded) - NGRAM + 1, 1)))
    return grams


def lexical_coverage(question: str, content: str) -> float:
    """Share of the question's distinct n-grams found in `content` (0..1)."""
    wanted = set(char_ngrams(question))
    return len(wanted & set(char_ngrams(content))) / len(wanted) if wanted else 0.0


# --------------------------------------------------------------------------- answers

LEARNED_QUESTION = "Вопрос: "
LEARNED_ANSWER = "Ответ: "
MAX_ANSWER_CHARS = 700
# Dense scores of small models do not separate unrelated questions well (e5: 0.78-0.84 for
# "расскажи анекдот"), so the no-LLM answer also needs this much lexical overlap.
MIN_ANSWER_COVERAGE = 0.3


def learned_content(question: str, answer: str) -> str:
    return f"{LEARNED_QUESTION}{question.strip()}\n{LEARNED_ANSWER}{answer.strip()}"


def extract_answer(passage: Passage) -> str:
    """The customer-facing part of a passage: a learned entry's answer, or a chunk whose
    heading path is shortened to its last title, cut at a line boundary to MAX_ANSWER_CHARS."""
    content = passage.content.strip()
    if passage.source == SOURCE_LEARNED and LEARNED_ANSWER in content:
        return content.split(LEARNED_ANSWER, 1)[1].strip()
    first, _, rest = content.partition("\n")
    if rest.strip() and _looks_like_heading_path(first):
        title = first.split(HEADING_SEPARATOR)[-1].strip()
        content = f"{title}\n{rest.strip()}"
    if len(content) <= MAX_ANSWER_CHARS:
        return content
    cut = content[:MAX_ANSWER_CHARS]
    return (cut.rsplit("\n", 1)[0] if "\n" in cut else cut.rsplit(" ", 1)[0]).rstrip() + " …"


def _looks_like_heading_path(line: str) -> bool:
    """chunk_document's first line: a "A > B" path, or one short title (no "key: value",
    no sentence punctuation)."""
    if HEADING_SEPARATOR in line:
        return True
    return len(line) <= 80 and ":" not in line and not line.endswith((".", "!", "?"))


# --------------------------------------------------------------------------- service


@dataclass(frozen=True, slots=True)
class IngestReport:
    doc_name: str
    chunks: int
    added: int
    removed: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


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
        self.thresholds = thresholds or thresholds_for(embedder.name)
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

    async def search(
        self,
        client_slug: str,
        query: str,
        *,
        knowledge_tag: str | None = None,
        limit: int = 5,
        mode: RetrievalMode | None = None,
    ) -> Result[list[Passage]]:
        """KnowledgeSearch: never raises; embedder or store trouble is `rag_error`."""
        if not query.strip():
            return Result.success([])
        try:
            vector = (await self.embedder.embed_queries([query]))[0]
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
