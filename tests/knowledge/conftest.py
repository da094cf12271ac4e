from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ai.embeddings import LocalE5Embedder
from core.knowledge import KnowledgeBase
from storage.vectors import EdgeVectorStore


@pytest.fixture(scope="session")
def e5() -> LocalE5Embedder:
    """The bundled model, loaded once for the whole session."""
    return LocalE5Embedder()


@pytest.fixture
async def store(tmp_path: Path, e5: LocalE5Embedder) -> AsyncIterator[EdgeVectorStore]:
    store = EdgeVectorStore(tmp_path / "vectors", "test__local-e5-small-384")
    await store.ensure_collection(e5.dim)
    yield store
    await store.aclose()


@pytest.fixture
def kb(e5: LocalE5Embedder, store: EdgeVectorStore) -> KnowledgeBase:
    return KnowledgeBase(e5, store)
