"""Making a client's vectors again from the archived texts (issue 14.4): after a restore (the
database has the texts, the vector store has nothing), after a change of embedder (a new
collection), or to clear a collection of points nothing accounts for any more.

The orchestration (which collection, when to switch to it) is the gateway's
(`gateway/knowledge_rebuild.py`); here is what one client's rebuild does over a knowledge base."""

from __future__ import annotations

from dataclasses import dataclass

from core.answer_extraction import LEARNED_ANSWER, LEARNED_QUESTION
from core.knowledge import KnowledgeBase
from core.knowledge_types import (
    LEARNED_DOC_NAME,
    SOURCE_DOCUMENT,
    SOURCE_LEARNED,
    LearnedAnswer,
)
from core.ports import KnowledgeArchive, VectorStore


@dataclass(slots=True)
class RebuildReport:
    clients: int = 0
    documents: int = 0
    chunks: int = 0
    learned: int = 0
    removed: int = 0  # points no archived text accounts for (pruned)

    def add(self, other: RebuildReport) -> None:
        self.clients += other.clients
        self.documents += other.documents
        self.chunks += other.chunks
        self.learned += other.learned
        self.removed += other.removed

    def as_dict(self) -> dict[str, int]:
        return {"clients": self.clients, "documents": self.documents, "chunks": self.chunks,
                "learned": self.learned, "removed": self.removed}


async def reindex_client(kb: KnowledgeBase, archive: KnowledgeArchive, client_slug: str, *,
                         prune: bool = True) -> RebuildReport:
    """Embed every archived document and learned answer of the client again into `kb.store`.
    Points are replaced in place (their ids do not depend on the vectors), so the client's
    search keeps working meanwhile. `prune`: then delete the client's points that no archived
    text accounts for (a document deleted while the store was away, a stray copy)."""
    report = RebuildReport(clients=1)
    documents = await archive.documents(client_slug)
    for document in documents:
        indexed = await kb.index_document(client_slug, document.doc_name, document.content,
                                          document.knowledge_tag, fresh=True)
        report.documents += 1
        report.chunks += indexed.chunks
    learned = await archive.learned(client_slug)
    for answer in learned:
        await kb.index_learned(answer)
        report.learned += 1
    if prune:
        report.removed = await prune_client(kb.store, archive, client_slug)
    return report


async def prune_client(store: VectorStore, archive: KnowledgeArchive, client_slug: str) -> int:
    """Delete the client's points that no archived text accounts for: documents and learned
    answers deleted meanwhile (or never archived). Returns how many went."""
    removed = 0
    kept = {document.doc_name for document in await archive.documents(client_slug)}
    for info in await store.list_documents(client_slug):
        if info.source == SOURCE_DOCUMENT and info.doc_name not in kept:
            removed += await store.delete_document(client_slug, info.doc_name, SOURCE_DOCUMENT)
    stray = await store.point_ids(client_slug, LEARNED_DOC_NAME, SOURCE_LEARNED) - \
        {answer.id for answer in await archive.learned(client_slug)}
    if stray:
        await store.delete_points(sorted(stray))
        removed += len(stray)
    return removed


def parse_learned(content: str) -> tuple[str, str] | None:
    """(question, answer) of a learned point's content (`learned_content`), or None."""
    if not content.startswith(LEARNED_QUESTION) or f"\n{LEARNED_ANSWER}" not in content:
        return None
    question, answer = content[len(LEARNED_QUESTION):].split(f"\n{LEARNED_ANSWER}", 1)
    question, answer = question.strip(), answer.strip()
    return (question, answer) if question and answer else None


async def adopt_unarchived(live: VectorStore, archive: KnowledgeArchive, client_slug: str
                           ) -> list[str]:
    """Knowledge written before the archive existed: learned answers found only in the live
    collection are archived (their point holds question and answer whole); the names of
    documents found only there are returned: their text cannot be put together again from
    chunks, they must be ingested again."""
    archived = {answer.id for answer in await archive.learned(client_slug)}
    points = await live.payloads(client_slug, LEARNED_DOC_NAME, SOURCE_LEARNED)
    for point_id, payload in points.items():
        parsed = parse_learned(str(payload.get("content", "")))
        if point_id in archived or parsed is None:
            continue
        tag = (payload.get("metadata") or {}).get("knowledge_tag")
        await archive.save_learned(LearnedAnswer(point_id, client_slug, *parsed, tag))
    documents = {document.doc_name for document in await archive.documents(client_slug)}
    return sorted({info.doc_name for info in await live.list_documents(client_slug)
                   if info.source == SOURCE_DOCUMENT and info.doc_name not in documents})
