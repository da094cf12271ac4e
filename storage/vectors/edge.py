"""Embedded vector store: one Qdrant Edge shard per collection under DATA_DIR/vectors/.

qdrant-edge-py is pre-1.0, so every use of it stays in this module. Queries take
~0.1-0.2 ms and run on the event loop; writes, scrolls and flushes run in a worker thread,
serialised by a lock so a shard only ever sees one writer. Hits' payloads come from an
in-process cache (`payload_cache`), emptied around every write, and only its misses are read
from the shard.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import qdrant_edge as qe

from core.knowledge_types import (
    DocumentInfo,
    PointRecord,
    RetrievalMode,
    SearchHit,
    SearchQuery,
    VectorStoreError,
)
from storage.vectors import lexical
from storage.vectors.base import (
    CLIENT_KEY,
    DENSE,
    DOC_KEY,
    INDEXED_KEYS,
    LEXICAL,
    SCROLL_PAGE,
    SOURCE_KEY,
    TAG_KEY,
    rescore,
    summarize_documents,
)
from storage.vectors.payload_cache import PayloadCache

T = TypeVar("T")

# A query runs on the calling thread (the event loop) instead of being handed to a pool sized by
# the CPUs: the hand-off cost more than the search (a hybrid query of 91 chunks: 95-102 us on
# the clock, 38 us of the caller's CPU, against 39-42 us inline), and under load the pool's
# threads wait for a core behind the bundled model's. Over 10,000 chunks a served search is
# no slower inline (median 1.92 -> 1.63 ms, p99 2.94 -> 2.51; benchmarks/vector_search.py).
SEARCH_THREADS = 1


class StoreBusy(VectorStoreError):
    """Another process holds the embedded store (a shard has exactly one owner)."""


class EdgeVectorStore:
    """`snapshot_if_busy`: when another process (a running server) owns the shard, work on a
    private copy of it instead of failing — for read-mostly tools such as `chat`."""

    def __init__(self, root: Path, collection: str, *, snapshot_if_busy: bool = False) -> None:
        self._path = Path(root) / collection
        self._collection = collection
        self._snapshot_if_busy = snapshot_if_busy
        self._shard: qe.EdgeShard | None = None
        self._dim: int | None = None
        self._owner_lock: int | None = None
        self._snapshot_dir: str | None = None
        self._write_lock = asyncio.Lock()
        self._payloads = PayloadCache()
        # from a random start: a reader must not take another opening of the store (a
        # restarted primary's) for this one
        self._generation = random.getrandbits(48)

    @property
    def collection(self) -> str:
        return self._collection

    @property
    def path(self) -> Path:
        return self._path

    async def ensure_collection(self, dim: int) -> None:
        """Open the shard for `dim`-dimensional vectors; once it is open, check that it holds
        those (another process asks through `remote.RemoteVectorStore` with its embedder's)."""
        if self._shard is None:
            self._shard = await asyncio.to_thread(self._open_owned, dim)
            self._dim = dim
        elif dim != self._dim:
            raise VectorStoreError(f"embedded vector store {self._path} holds {self._dim}-dim "
                                   f"vectors but the embedder makes {dim}-dim ones")

    def _open_owned(self, dim: int) -> qe.EdgeShard:
        """Take the store's owner lock (an advisory file lock: two processes opening one shard
        corrupt it), or fall back to a private snapshot when allowed."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path.parent / f"{self._collection}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if not self._snapshot_if_busy:
                raise StoreBusy(
                    f"embedded vector store {self._path} is in use by another gateway process; "
                    "stop it, or use the admin API of the running server") from None
            self._snapshot_dir = tempfile.mkdtemp(prefix="truffles-vectors-")
            snapshot = Path(self._snapshot_dir) / self._collection
            if self._path.exists():
                shutil.copytree(self._path, snapshot)
            self._path = snapshot
            return self._open(dim)
        self._owner_lock = fd
        try:
            return self._open(dim)
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self._owner_lock is not None:
            os.close(self._owner_lock)  # closing the descriptor drops the flock
            self._owner_lock = None
        if self._snapshot_dir is not None:
            shutil.rmtree(self._snapshot_dir, ignore_errors=True)
            self._snapshot_dir = None

    def _open(self, dim: int) -> qe.EdgeShard:
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine),
            sparse_vectors={LEXICAL: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            max_search_threads=SEARCH_THREADS,
        )
        try:
            if (self._path / "edge_config.json").exists():
                return qe.EdgeShard.load(str(self._path), config)
            shard = qe.EdgeShard.create(str(self._path), config)
        except Exception as exc:
            raise VectorStoreError(
                f"embedded vector store {self._path} cannot be opened for {dim}-dim vectors: "
                f"{_first_line(exc)}"
            ) from exc
        shard.update(qe.UpdateOperation.create_field_index(
            CLIENT_KEY, qe.KeywordIndexParams(is_tenant=True)
        ))
        for key in INDEXED_KEYS[1:]:
            shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))
        return shard

    @property
    def _open_shard(self) -> qe.EdgeShard:
        if self._shard is None:
            raise VectorStoreError("embedded vector store used before ensure_collection()")
        return self._shard

    @property
    def generation(self) -> int:
        """Counts the starts and ends of writes: payloads read while it stays the same are
        still the store's (a reader in another process keeps them by it, `remote.py`)."""
        return self._generation

    async def _write(self, work: Callable[..., T], *args: Any) -> T:
        """Every change of the shard goes through here. The payload cache is emptied after it
        too: a search during the write may have cached a payload it replaces."""
        shard = self._open_shard
        async with self._write_lock:
            self._payloads.clear()
            self._generation += 1
            try:
                return await asyncio.to_thread(functools.partial(work, shard, *args))
            finally:
                self._payloads.clear()
                self._generation += 1

    async def upsert(self, points: Sequence[PointRecord]) -> None:
        if points:
            await self._write(_upsert, list(points))

    async def delete_points(self, ids: Sequence[str]) -> None:
        if ids:
            await self._write(_apply, qe.UpdateOperation.delete_points(list(ids)))

    async def delete_document(self, client_slug: str, doc_name: str, source: str) -> int:
        document = qe.Filter(must=[
            _match(CLIENT_KEY, client_slug), _match(DOC_KEY, doc_name), _match(SOURCE_KEY, source)
        ])
        existing = self._open_shard.count(qe.CountRequest(filter=document))
        if existing:
            await self._write(_apply, qe.UpdateOperation.delete_points_by_filter(document))
        return existing

    async def point_ids(self, client_slug: str, doc_name: str, source: str) -> set[str]:
        document = qe.Filter(must=[
            _match(CLIENT_KEY, client_slug), _match(DOC_KEY, doc_name), _match(SOURCE_KEY, source)
        ])
        records = await asyncio.to_thread(_scroll, self._open_shard, document, False)
        return {str(record.id) for record in records}

    async def payloads(self, client_slug: str, doc_name: str, source: str) -> dict[str, dict]:
        document = qe.Filter(must=[
            _match(CLIENT_KEY, client_slug), _match(DOC_KEY, doc_name), _match(SOURCE_KEY, source)
        ])
        records = await asyncio.to_thread(_scroll, self._open_shard, document, True)
        return {str(record.id): dict(record.payload or {}) for record in records}

    async def delete_client(self, client_slug: str) -> int:
        tenant = qe.Filter(must=[_match(CLIENT_KEY, client_slug)])
        existing = self._open_shard.count(qe.CountRequest(filter=tenant))
        if existing:
            await self._write(_apply, qe.UpdateOperation.delete_points_by_filter(tenant))
        return existing

    async def search(self, query: SearchQuery) -> list[SearchHit]:
        dense, sparse = _queries(query)
        try:
            if query.mode is RetrievalMode.DENSE or sparse is None:
                near = [(str(p.id), p) for p in
                        self._open_shard.query(_request(query, dense, _over_fetch(query)))]
                return self._rescore(query, near, dense={key: p.score for key, p in near})
            if query.mode is RetrievalMode.LEXICAL:
                lexical_hits = [(str(p.id), p) for p in
                                self._open_shard.query(_request(query, sparse, query.limit))]
                return self._rescore(query, lexical_hits, dense=self._dense_scores(
                    dense, [key for key, _ in lexical_hits]))
            nearest, lexical = self._open_shard.query_batch(qe.QueryBatchRequest([
                _request(query, dense, query.limit), _request(query, sparse, query.limit)]))
            # the dense branch's own scores are the cosines; the lexical branch's other points
            # are scored by the shard too (no vectors shipped into Python). A point's id is
            # read once: each read makes a new UUID.
            near = [(str(p.id), p) for p in nearest]
            lexical_hits = [(str(p.id), p) for p in lexical]
            scores = {key: p.score for key, p in near}
            scores.update(self._dense_scores(
                dense, [key for key, _ in lexical_hits if key not in scores]))
            return self._rescore(query, [*near, *lexical_hits], dense=scores, cut=False,
                                 lexical={key: p.score for key, p in lexical_hits})
        except Exception as exc:
            raise VectorStoreError(f"embedded vector search failed: {_first_line(exc)}") from exc

    def _rescore(self, query: SearchQuery, points: list[tuple[str, Any]], *,
                 dense: dict[str, float], lexical: dict[str, float] | None = None,
                 cut: bool = True) -> list[SearchHit]:
        """`rescore` with each point's payload (a point deleted meanwhile is left out)."""
        payloads = self.payloads_by_id(key for key, _ in points)
        return rescore(query, ((key, None, payloads[key]) for key, _ in points if key in payloads),
                       lexical, cut=cut, dense=dense)

    def payloads_by_id(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The payloads of these points that exist: from the cache, the misses read from the
        shard in one call. Shared with the cache: read them, never change them."""
        payloads, missing = self._payloads.take(ids)
        if missing:
            for record in self._open_shard.retrieve(missing, True, False):
                key = str(record.id)
                payloads[key] = payload = dict(record.payload or {})
                self._payloads.put(key, payload)
        return payloads

    def _dense_scores(self, dense: qe.Query, ids: list[str]) -> dict[str, float]:
        """The dense query's cosine with each of these points, computed in the shard."""
        if not ids:
            return {}
        scored = self._open_shard.query(qe.QueryRequest(
            limit=len(ids), query=dense, filter=qe.Filter(must=[qe.HasIdCondition(set(ids))]),
            with_payload=False, with_vector=False))
        return {str(p.id): p.score for p in scored}

    async def list_documents(self, client_slug: str) -> list[DocumentInfo]:
        return summarize_documents({"metadata": m} for m in await self._metadata(client_slug))

    async def _metadata(self, client_slug: str) -> list[dict[str, Any]]:
        tenant = qe.Filter(must=[_match(CLIENT_KEY, client_slug)])
        records = await asyncio.to_thread(_scroll, self._open_shard, tenant, ["metadata"])
        return [(record.payload or {}).get("metadata") or {} for record in records]

    async def count(self, client_slug: str | None = None) -> int:
        tenant = qe.Filter(must=[_match(CLIENT_KEY, client_slug)]) if client_slug else None
        return self._open_shard.count(qe.CountRequest(filter=tenant))

    async def aclose(self) -> None:
        shard, self._shard = self._shard, None
        if shard is not None:
            async with self._write_lock:
                await asyncio.to_thread(_close, shard)
        self._release()


def _match(key: str, value: str) -> qe.FieldCondition:
    return qe.FieldCondition(key, match=qe.MatchValue(value))


def _filter(query: SearchQuery) -> qe.Filter:
    must: list[Any] = [_match(CLIENT_KEY, query.client_slug)]
    if query.source:
        must.append(_match(SOURCE_KEY, query.source))
    if query.knowledge_tag:
        # A branch sees its own tagged chunks and the client's untagged (shared) ones.
        must.append(qe.Filter(should=[
            _match(TAG_KEY, query.knowledge_tag), qe.IsEmptyCondition(TAG_KEY)
        ]))
    return qe.Filter(must=must)


def _over_fetch(query: SearchQuery) -> int:
    """A single-branch search over-fetches: the dense threshold is applied afterwards."""
    return max(query.limit * 3, 10)


def _queries(query: SearchQuery) -> tuple[qe.Query, qe.Query | None]:
    dense = qe.Query.Nearest(query.vector)
    indices, values = lexical.sparse_query(query.text)
    sparse = qe.Query.Nearest(qe.SparseVector(indices, values), using=LEXICAL) if indices else None
    return dense, sparse


def _request(query: SearchQuery, nearest: qe.Query, limit: int) -> qe.QueryRequest:
    return qe.QueryRequest(limit=limit, query=nearest, filter=_filter(query), with_payload=False,
                           with_vector=False)


def _upsert(shard: qe.EdgeShard, points: list[PointRecord]) -> None:
    edge_points = []
    for point in points:
        indices, values = lexical.sparse_document(str(point.payload.get("content", "")))
        vectors: dict[str, Any] = {DENSE: list(point.vector)}
        if indices:
            vectors[LEXICAL] = qe.SparseVector(indices, values)
        edge_points.append(qe.Point(point.id, vectors, point.payload))
    shard.update(qe.UpdateOperation.upsert_points(edge_points))
    shard.flush()


def _apply(shard: qe.EdgeShard, operation: qe.UpdateOperation) -> None:
    shard.update(operation)
    shard.flush()


def _scroll(shard: qe.EdgeShard, flt: qe.Filter, with_payload: Any) -> list[qe.Record]:
    records: list[qe.Record] = []
    offset = None
    while True:
        page, offset = shard.scroll(qe.ScrollRequest(
            offset=offset, limit=SCROLL_PAGE, filter=flt, with_payload=with_payload
        ))
        records.extend(page)
        if offset is None:
            return records


def _close(shard: qe.EdgeShard) -> None:
    shard.flush()
    shard.close()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
