"""What the lifecycle needs of the Qdrant server adapter (in-process mode, same API): one
document's payloads, a client's points deleted, a learned answer forgotten, a client rebuilt in
place, a replaced collection dropped."""

from __future__ import annotations

import pytest
from qdrant_client import AsyncQdrantClient

from ai.embeddings import LocalE5Embedder
from core.knowledge import KnowledgeBase
from core.knowledge_rebuild import reindex_client
from core.knowledge_types import ArchivedDocument, LearnedAnswer

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")


class MemoryArchive:
    """The archive port in memory (the PostgreSQL one is tested with the commands)."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], ArchivedDocument] = {}
        self.answers: dict[str, LearnedAnswer] = {}

    async def save_document(self, document: ArchivedDocument) -> None:
        self.docs[(document.client_slug, document.doc_name)] = document

    async def delete_document(self, client_slug: str, doc_name: str) -> bool:
        return self.docs.pop((client_slug, doc_name), None) is not None

    async def documents(self, client_slug: str) -> list[ArchivedDocument]:
        return [d for (slug, _), d in sorted(self.docs.items()) if slug == client_slug]

    async def save_learned(self, answer: LearnedAnswer) -> None:
        self.answers[answer.id] = answer

    async def delete_learned(self, client_slug: str, ids) -> int:
        gone = [i for i in ids if i in self.answers and self.answers[i].client_slug == client_slug]
        for answer_id in gone:
            del self.answers[answer_id]
        return len(gone)

    async def learned(self, client_slug: str, knowledge_tag: str | None = None) -> list[LearnedAnswer]:
        return [a for a in self.answers.values() if a.client_slug == client_slug
                and (knowledge_tag is None or a.knowledge_tag == knowledge_tag)]


async def test_the_server_store_supports_the_lifecycle() -> None:
    from storage.vectors.server import QdrantServerStore

    e5 = LocalE5Embedder()
    client = AsyncQdrantClient(location=":memory:")
    store = QdrantServerStore(client, "truffles_knowledge")
    await store.ensure_collection(e5.dim)
    archive = MemoryArchive()
    kb = KnowledgeBase(e5, store, archive=archive)
    await kb.ingest_document("alpha", "prices", "## Маникюр\nМаникюр — 4 000 ₸.")
    await kb.ingest_document("beta", "prices", "## Маникюр\nМаникюр — 6 500 ₸.")
    parking = await kb.learn("alpha", "Есть парковка?", "Да, во дворе.")

    payloads = await store.payloads("alpha", "learned", "learned")
    assert list(payloads) == [parking] and "во дворе" in payloads[parking]["content"]
    archive.docs.pop(("alpha", "prices"))  # deleted while the store was away
    report = await reindex_client(kb, archive, "alpha")
    assert (report.documents, report.learned, report.removed) == (0, 1, 1)
    assert await kb.forget("alpha", parking) and not await kb.forget("alpha", parking)
    assert await store.count("alpha") == 0 and archive.answers == {}
    assert await store.delete_client("beta") == 1 and await store.count() == 0
    assert await store.exists()
    await store.drop()
    assert not await store.exists()
    await store.aclose()
