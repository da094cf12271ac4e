"""Vector stores behind core.ports.VectorStore: a Qdrant server (QDRANT_URL) or an
embedded Qdrant Edge shard under DATA_DIR/vectors/ (opened here, or the one another process of
the gateway owns and serves on a unix socket: `remote.py`)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
from typing import TYPE_CHECKING

from storage.settings import VectorSettings
from storage.vectors.base import collection_name
from storage.vectors.edge import EdgeVectorStore

if TYPE_CHECKING:
    from core.ports import Embedder, VectorStore

__all__ = ["EdgeVectorStore", "build_vector_store", "collection_exists",
           "collection_name", "drop_collection", "logical_collection", "rebuilt_collections"]


def logical_collection(settings: VectorSettings, embedder_name: str) -> str:
    """The collection name of this embedder (see `collection_name`); which physical collection
    serves it is recorded in the database (`storage/repositories/knowledge_archive.py`)."""
    return collection_name(settings.collection, embedder_name,
                           keep_base=settings.keep_collection_name)


def build_vector_store(settings: VectorSettings, embedder: Embedder, *,
                       snapshot_if_busy: bool = False, collection: str | None = None) -> VectorStore:
    """The configured store, on the collection of this embedder (see `collection_name`), or on
    `collection` when given (the one a rebuild made).

    Call `ensure_collection(embedder.dim)` before use (the start-up check does).
    """
    name = collection or logical_collection(settings, embedder.name)
    if settings.qdrant_url:
        from storage.vectors.server import QdrantServerStore  # qdrant-client: only for a server

        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return QdrantServerStore.connect(settings.qdrant_url, api_key, name)
    if settings.served_at is not None:
        from storage.vectors.remote import RemoteVectorStore  # aiohttp: only for a served store

        return RemoteVectorStore(settings.served_at, name)
    return EdgeVectorStore(settings.data_dir / "vectors", name, snapshot_if_busy=snapshot_if_busy)


async def collection_exists(settings: VectorSettings, name: str) -> bool:
    if settings.qdrant_url:
        from storage.vectors.server import QdrantServerStore

        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        store = QdrantServerStore.connect(settings.qdrant_url, api_key, name)
        try:
            return await store.exists()
        finally:
            await store.aclose()
    return (settings.data_dir / "vectors" / name / "edge_config.json").exists()


def rebuilt_collections(settings: VectorSettings, logical: str) -> list[str]:
    """The embedded store's collections earlier rebuilds of `logical` made (a Qdrant server's
    replaced collections are deleted at once, so only the embedded store keeps any)."""
    root = settings.data_dir / "vectors"
    if settings.qdrant_url or not root.is_dir():
        return []
    return sorted(path.name for path in root.glob(f"{logical}__r*") if path.is_dir())


async def drop_collection(settings: VectorSettings, name: str, *, wait_seconds: float = 15.0
                          ) -> bool:
    """Delete a collection nobody serves any more (the one a rebuild replaced). The embedded
    store's is deleted once its owner lock is free (a running gateway lets go of it when it
    switches to the new one), waiting up to `wait_seconds`; False when it is still held."""
    if settings.qdrant_url:
        from storage.vectors.server import QdrantServerStore

        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        store = QdrantServerStore.connect(settings.qdrant_url, api_key, name)
        try:
            await store.drop()
        finally:
            await store.aclose()
        return True
    root = settings.data_dir / "vectors"
    if not (root / name).exists():
        return True
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        if await asyncio.to_thread(_remove_if_free, root, name):
            return True
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.5)


def _remove_if_free(root: os.PathLike[str] | str, name: str) -> bool:
    lock_path = os.path.join(root, f"{name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        os.unlink(lock_path)
        return True
    finally:
        os.close(fd)
