"""The embedded store used from another process (`serve --processes N`): a RemoteVectorStore
against a real EdgeVectorStore served by `gateway/store_service.py` on a unix socket, in this
process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from ai.embeddings import LocalE5Embedder
from core.knowledge import KnowledgeBase
from core.knowledge_types import (
    SOURCE_DOCUMENT,
    SOURCE_LEARNED,
    PointRecord,
    RetrievalMode,
    SearchQuery,
    VectorStoreError,
)
from gateway.store_service import serve_store, store_socket
from storage.vectors import EdgeVectorStore, remote
from storage.vectors.remote import RemoteVectorStore


@pytest.fixture
async def served(tmp_path: Path, store: EdgeVectorStore) -> AsyncIterator[Path]:
    """The edge store served on a socket; its path."""
    async with AsyncExitStack() as stack:
        await serve_store(stack, store_socket(tmp_path), lambda: store)
        yield store_socket(tmp_path)


@pytest.fixture
async def remote_store(served: Path, store: EdgeVectorStore) -> AsyncIterator[RemoteVectorStore]:
    remote_store = RemoteVectorStore(served, store.collection)
    yield remote_store
    await remote_store.aclose()


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote, "RETRY_SECONDS", 0.2)


async def test_the_socket_is_for_its_owner_alone(served: Path) -> None:
    assert served.is_socket() and served.stat().st_mode & 0o777 == 0o600


async def test_a_knowledge_base_works_through_the_socket(
    e5: LocalE5Embedder, store: EdgeVectorStore, remote_store: RemoteVectorStore,
) -> None:
    await remote_store.ensure_collection(e5.dim)
    kb = KnowledgeBase(e5, remote_store)
    await kb.ingest_document("alpha", "prices", "## Маникюр\nМаникюр — 4 000 ₸ (Альфа).")
    await kb.ingest_document("beta", "prices", "## Маникюр\nМаникюр — 6 500 ₸ (Бета).",
                             knowledge_tag="east")
    learned_id = await kb.learn("alpha", "Есть парковка?", "Да, во дворе.")
    for mode in RetrievalMode:
        result = await kb.search("alpha", "сколько стоит маникюр", mode=mode)
        assert result.ok, result.error
        assert result.value and all("Бета" not in p.content for p in result.value), mode
    tagged = await kb.search("beta", "маникюр", knowledge_tag="west")
    assert tagged.ok and tagged.value == []
    east = await kb.search("beta", "маникюр", knowledge_tag="east")
    assert east.ok and east.value and "Бета" in east.value[0].content
    assert not (await kb.ingest_document("alpha", "prices",
                                         "## Маникюр\nМаникюр — 4 000 ₸ (Альфа).")).changed

    # what the owner holds is what the socket says, call by call
    for slug in ("alpha", "beta", None):
        assert await remote_store.count(slug) == await store.count(slug)
    assert await remote_store.list_documents("alpha") == await store.list_documents("alpha")
    assert await remote_store.point_ids("alpha", "learned", SOURCE_LEARNED) == {learned_id}
    payloads = await remote_store.payloads("alpha", "prices", SOURCE_DOCUMENT)
    assert payloads == await store.payloads("alpha", "prices", SOURCE_DOCUMENT)
    assert [p["metadata"]["client_slug"] for p in payloads.values()] == ["alpha"]
    query = SearchQuery(vector=await kb.embed_query("маникюр"), text="маникюр",
                        client_slug="beta", knowledge_tag="east")
    assert await remote_store.search(query) == await store.search(query)

    assert await kb.delete_document("alpha", "prices") == 1
    assert [(d.doc_name, d.source) for d in await kb.list_documents("alpha")] == [
        ("learned", "learned")]
    await remote_store.delete_points([learned_id])
    assert await store.count("alpha") == 0
    assert await remote_store.delete_client("beta") == 1
    assert await store.count() == 0


async def test_a_dimension_mismatch_is_the_stores_error(
    remote_store: RemoteVectorStore,
) -> None:
    with pytest.raises(VectorStoreError, match="holds 384-dim vectors but the embedder makes 1024"):
        await remote_store.ensure_collection(1024)


@pytest.mark.usefixtures("quick_retries")
async def test_a_store_not_served_fails_as_a_store_that_is_down(
    tmp_path: Path, store: EdgeVectorStore,
) -> None:
    nobody = RemoteVectorStore(tmp_path / "nobody.sock", store.collection)
    with pytest.raises(VectorStoreError, match="unreachable"):
        await nobody.count()
    await nobody.aclose()
    async with AsyncExitStack() as stack:
        opening: list[EdgeVectorStore] = []  # the primary's knowledge base is still opening
        await serve_store(stack, tmp_path / "opening.sock", lambda: opening[0] if opening else None)
        early = RemoteVectorStore(tmp_path / "opening.sock", store.collection)
        stack.push_async_callback(early.aclose)
        with pytest.raises(VectorStoreError, match="not open yet"):
            await early.count()
        opening.append(store)
        assert await early.count() == 0
        other = RemoteVectorStore(tmp_path / "opening.sock", "another")  # a rebuild's new one
        stack.push_async_callback(other.aclose)
        with pytest.raises(VectorStoreError, match=f"serves {store.collection}, not another"):
            await other.count()


async def test_a_call_waits_for_the_primary_to_come_up(
    tmp_path: Path, store: EdgeVectorStore,
) -> None:
    socket = store_socket(tmp_path)
    waiting = RemoteVectorStore(socket, store.collection)
    call = asyncio.create_task(waiting.count())
    for _ in range(10):  # the first try finds no socket
        await asyncio.sleep(0)
    assert not call.done()
    async with AsyncExitStack() as stack:
        await serve_store(stack, socket, lambda: store)
        assert await call == 0
    assert not socket.exists()  # removed with the service
    await waiting.aclose()


async def test_payloads_kept_across_the_socket_follow_the_owners_writes(
    store: EdgeVectorStore, remote_store: RemoteVectorStore,
) -> None:
    """The secondary keeps the payloads it has read; a write by any process (here the owner's
    own) makes it read them again."""
    store_dim = 384  # the fixture's (the bundled model's)
    point_id = "0b9a4b8e-5d0e-4a57-9f5c-0f1d3c6f8a11"
    vector = [1.0] + [0.0] * (store_dim - 1)

    def point(text: str) -> PointRecord:
        return PointRecord(id=point_id, vector=vector, payload={
            "content": text, "metadata": {"client_slug": "demo", "doc_name": "d",
                                          "source": SOURCE_DOCUMENT}})

    query = SearchQuery(vector=vector, text="маникюр", client_slug="demo")
    await store.upsert([point("Маникюр — 4 000 ₸.")])
    assert [hit.payload["content"] for hit in await remote_store.search(query)] == [
        "Маникюр — 4 000 ₸."]
    await store.upsert([point("Маникюр — 5 000 ₸.")])
    hits = await remote_store.search(query)
    assert [(hit.id, hit.payload["content"]) for hit in hits] == [(point_id, "Маникюр — 5 000 ₸.")]
    assert hits == await store.search(query)
