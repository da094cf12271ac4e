"""The embedded store's hits take their payloads from its in-process cache; every write empties
it, so a search never returns a chunk as it was before an ingest, a delete or a rebuild."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.knowledge_types import PointRecord, SearchQuery
from storage.vectors import EdgeVectorStore
from storage.vectors.payload_cache import PayloadCache
from tests.knowledge.test_store_scores import IDS, POINTS, QUERY


def _point(name: str, text: str) -> PointRecord:
    return PointRecord(id=IDS[name], vector=POINTS[name][0], payload={
        "content": text, "metadata": {"client_slug": "demo", "doc_name": name,
                                      "source": "document"}})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EdgeVectorStore]:
    store = EdgeVectorStore(tmp_path, "cached")
    await store.ensure_collection(len(QUERY))
    await store.upsert([_point(name, text) for name, (_, text) in POINTS.items()])
    yield store
    await store.aclose()


async def _contents(store: EdgeVectorStore) -> dict[str, str]:
    hits = await store.search(SearchQuery(vector=QUERY, text="маникюр", client_slug="demo",
                                          limit=4))
    return {hit.id: hit.payload["content"] for hit in hits}


async def test_searches_see_every_write(store: EdgeVectorStore) -> None:
    first = await _contents(store)
    assert first[IDS["price"]] == POINTS["price"][1]
    assert await _contents(store) == first  # the same, from the cache
    await store.upsert([_point("price", "Маникюр классический — 5 000 ₸.")])
    assert (await _contents(store))[IDS["price"]] == "Маникюр классический — 5 000 ₸."
    await store.delete_points([IDS["parking"]])
    assert IDS["parking"] not in await _contents(store)
    await store.delete_document("demo", "both", "document")
    assert IDS["both"] not in await _contents(store)
    await store.delete_client("demo")
    assert await _contents(store) == {}


def test_the_cache_keeps_the_most_recently_used() -> None:
    cache = PayloadCache(capacity=2)
    cache.put("a", {"content": "a"})
    cache.put("b", {"content": "b"})
    assert cache.take(["a", "c", "c"]) == ({"a": {"content": "a"}}, ["c"])
    cache.put("c", {"content": "c"})  # "b" was used least recently
    assert len(cache) == 2
    assert cache.take(["a", "b", "c"]) == ({"a": {"content": "a"}, "c": {"content": "c"}}, ["b"])
