"""The Qdrant server adapter, exercised through qdrant_client's in-process mode (same API)."""

from __future__ import annotations

import pytest
from qdrant_client import AsyncQdrantClient, models

from ai.embeddings import LocalE5Embedder
from core.knowledge import KnowledgeBase
from core.knowledge_types import RetrievalMode
from storage.vectors import collection_name
from storage.vectors.server import QdrantServerStore

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")


async def test_server_store_filters_tenants_and_replaces_documents(e5: LocalE5Embedder) -> None:
    store = QdrantServerStore(AsyncQdrantClient(location=":memory:"), "truffles_knowledge")
    await store.ensure_collection(e5.dim)
    await store.ensure_collection(e5.dim)  # idempotent
    kb = KnowledgeBase(e5, store)
    await kb.ingest_document("alpha", "prices", "## Маникюр\nМаникюр — 4 000 ₸ (Альфа).")
    await kb.ingest_document("beta", "prices", "## Маникюр\nМаникюр — 6 500 ₸ (Бета).",
                             knowledge_tag="east")
    await kb.learn("alpha", "Есть парковка?", "Да, во дворе.")
    for mode in RetrievalMode:
        result = await kb.search("alpha", "сколько стоит маникюр", mode=mode)
        assert result.ok, result.error
        assert result.value and all("Бета" not in p.content for p in result.value)
    tagged = await kb.search("beta", "маникюр", knowledge_tag="west")
    assert tagged.ok and tagged.value == []
    assert not (await kb.ingest_document("alpha", "prices", "## Маникюр\nМаникюр — 4 000 ₸ (Альфа).")).changed
    assert await kb.delete_document("alpha", "prices") == 1
    assert [(d.doc_name, d.source) for d in await kb.list_documents("alpha")] == [
        ("learned", "learned")
    ]
    assert await store.count() == 2
    await store.aclose()


async def test_an_n8n_collection_without_sparse_vectors_works_dense_only(
    e5: LocalE5Embedder,
) -> None:
    client = AsyncQdrantClient(location=":memory:")
    await client.create_collection(
        "truffles_knowledge",
        vectors_config=models.VectorParams(size=e5.dim, distance=models.Distance.COSINE),
    )
    vector, = await e5.embed_passages(["Адрес: проспект Абая, 52."])
    await client.upsert("truffles_knowledge", points=[models.PointStruct(
        id="0b9a4b8e-5d0e-4a57-9f5c-0f1d3c6f8a11", vector=vector,
        payload={"content": "Адрес: проспект Абая, 52.", "metadata": {
            "client_slug": "demo", "doc_name": "Контакты", "source": "document",
            "updated_at": "2025-01-01T00:00:00Z"}},
    )])
    store = QdrantServerStore(client, "truffles_knowledge")
    await store.ensure_collection(e5.dim)
    kb = KnowledgeBase(e5, store)
    result = await kb.search("demo", "где вы находитесь?")
    assert result.ok and result.value and result.value[0].doc_name == "Контакты"
    report = await kb.ingest_document("demo", "Контакты", "Адрес: проспект Абая, 54.")
    assert (report.added, report.removed) == (1, 1)
    with pytest.raises(Exception, match="384-dim vectors but the embedder makes 1024"):
        await QdrantServerStore(client, "truffles_knowledge").ensure_collection(1024)
    await store.aclose()


def test_collections_are_named_per_embedder() -> None:
    assert collection_name("truffles_knowledge", "tei-bge-m3-1024", keep_base=True) == (
        "truffles_knowledge"
    )
    assert collection_name("truffles_knowledge", "local-e5-small-384", keep_base=False) == (
        "truffles_knowledge__local-e5-small-384"
    )
