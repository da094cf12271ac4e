"""Vector stores behind core.ports.VectorStore: a Qdrant server (QDRANT_URL) or an
embedded Qdrant Edge shard under DATA_DIR/vectors/."""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage.settings import VectorSettings
from storage.vectors.base import collection_name
from storage.vectors.edge import EdgeVectorStore

if TYPE_CHECKING:
    from core.ports import Embedder, VectorStore

__all__ = ["EdgeVectorStore", "build_vector_store", "collection_name"]


def build_vector_store(settings: VectorSettings, embedder: Embedder, *,
                       snapshot_if_busy: bool = False) -> VectorStore:
    """The configured store, on the collection of this embedder (see `collection_name`).

    Call `ensure_collection(embedder.dim)` before use (the start-up check does).
    """
    name = collection_name(settings.collection, embedder.name,
                           keep_base=settings.keep_collection_name)
    if settings.qdrant_url:
        from storage.vectors.server import QdrantServerStore  # qdrant-client: only for a server

        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return QdrantServerStore.connect(settings.qdrant_url, api_key, name)
    return EdgeVectorStore(settings.data_dir / "vectors", name, snapshot_if_busy=snapshot_if_busy)
