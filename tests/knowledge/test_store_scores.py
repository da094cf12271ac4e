"""The vector stores (and the embedded one used from another process) give every candidate its
dense cosine, those found by the lexical branch alone included (scored in the store: their
vectors are not fetched)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_client import AsyncQdrantClient

from core.knowledge_types import PointRecord, RetrievalMode, SearchQuery
from gateway.store_service import serve_store, store_socket
from storage.vectors import EdgeVectorStore
from storage.vectors.remote import RemoteVectorStore
from storage.vectors.server import QdrantServerStore

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")

QUERY = [1.0, 0.0, 0.0, 0.0]
# the two nearest say nothing of a manicure; the two that do are far from the query
POINTS = {
    "parking": ([1.0, 0.1, 0.0, 0.0], "Парковка во дворе."),
    "address": ([0.9, 0.3, 0.0, 0.0], "Адрес: проспект Абая, 52."),
    "price": ([0.2, 0.0, 1.0, 0.2], "Маникюр классический — 4 000 ₸."),
    "both": ([-0.3, 0.0, 0.2, 1.0], "Маникюр и педикюр вместе — 7 000 ₸."),
}
IDS = {name: str(uuid.uuid5(uuid.NAMESPACE_URL, name)) for name in POINTS}


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(params=["edge", "server", "remote"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """`remote`: an edge store used through the socket another process serves it on."""
    async with AsyncExitStack() as stack:
        owned: Any = QdrantServerStore(AsyncQdrantClient(location=":memory:"), "scores") \
            if request.param == "server" else EdgeVectorStore(tmp_path, "scores")
        stack.push_async_callback(owned.aclose)
        store = owned
        if request.param == "remote":
            await owned.ensure_collection(len(QUERY))
            await serve_store(stack, store_socket(tmp_path), lambda: owned)
            store = RemoteVectorStore(store_socket(tmp_path), "scores")
            stack.push_async_callback(store.aclose)
        await store.ensure_collection(len(QUERY))
        await store.upsert([PointRecord(id=IDS[name], vector=vector, payload={
            "content": text, "metadata": {"client_slug": "demo", "doc_name": name,
                                          "source": "document"}})
            for name, (vector, text) in POINTS.items()])
        yield store


@pytest.mark.parametrize("mode", [RetrievalMode.HYBRID, RetrievalMode.LEXICAL])
async def test_lexical_candidates_get_their_dense_cosine(store: Any, mode: RetrievalMode) -> None:
    hits = await store.search(SearchQuery(vector=QUERY, text="маникюр", client_slug="demo",
                                          limit=2, mode=mode))
    names = {value: name for name, value in IDS.items()}
    found = {names[hit.id]: hit for hit in hits}
    expected = {"parking", "address", "price", "both"} if mode is RetrievalMode.HYBRID else \
        {"price", "both"}
    assert set(found) == expected
    for name, hit in found.items():
        assert hit.score == pytest.approx(cosine(QUERY, POINTS[name][0]), abs=1e-6), name
    if mode is RetrievalMode.HYBRID:  # a lexical search ranks by them but leaves them out
        assert found["price"].lexical > 0 and found["both"].lexical > 0
    assert found["both"].score < 0  # a negative cosine is kept as it is, not taken for missing
