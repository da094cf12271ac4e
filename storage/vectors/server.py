"""Qdrant server vector store (QDRANT_URL), through qdrant_client's async client.

A collection created here has the unnamed dense vector (as the n8n Knowledge Sync made it)
plus a `lexical` sparse vector with IDF. An existing collection without the sparse vector
(written by n8n) is used as it is, dense only; re-ingesting documents does not need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qdrant_client import AsyncQdrantClient, models

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

REQUEST_TIMEOUT_SECONDS = 10


class QdrantServerStore:
    def __init__(self, client: AsyncQdrantClient, collection: str) -> None:
        self._client = client
        self._collection = collection
        self._has_lexical = False

    @classmethod
    def connect(cls, url: str, api_key: str | None, collection: str) -> QdrantServerStore:
        client = AsyncQdrantClient(url=url, api_key=api_key, timeout=REQUEST_TIMEOUT_SECONDS)
        return cls(client, collection)

    @property
    def collection(self) -> str:
        return self._collection

    async def ensure_collection(self, dim: int) -> None:
        try:
            if not await self._client.collection_exists(self._collection):
                await self._client.create_collection(
                    self._collection,
                    vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
                    sparse_vectors_config={
                        LEXICAL: models.SparseVectorParams(modifier=models.Modifier.IDF)
                    },
                )
            info = await self._client.get_collection(self._collection)
            for key in INDEXED_KEYS:
                if key not in (info.payload_schema or {}):
                    await self._client.create_payload_index(
                        self._collection, key, models.PayloadSchemaType.KEYWORD
                    )
        except Exception as exc:
            raise VectorStoreError(f"Qdrant collection {self._collection}: {exc}") from exc
        vectors = info.config.params.vectors
        size = vectors.size if isinstance(vectors, models.VectorParams) else None
        if size != dim:
            raise VectorStoreError(
                f"Qdrant collection {self._collection} holds {size}-dim vectors but the embedder "
                f"makes {dim}-dim ones; set QDRANT_COLLECTION to another name or re-ingest"
            )
        self._has_lexical = LEXICAL in (info.config.params.sparse_vectors or {})

    async def upsert(self, points: Sequence[PointRecord]) -> None:
        if points:
            await self._call(self._client.upsert(
                self._collection, points=[self._point(point) for point in points], wait=True
            ))

    def _point(self, point: PointRecord) -> models.PointStruct:
        vector: Any = list(point.vector)
        if self._has_lexical:
            indices, values = lexical.sparse_document(str(point.payload.get("content", "")))
            vector = {DENSE: vector}
            if indices:
                vector[LEXICAL] = models.SparseVector(indices=indices, values=values)
        return models.PointStruct(id=point.id, vector=vector, payload=point.payload)

    async def delete_points(self, ids: Sequence[str]) -> None:
        if ids:
            await self._call(self._client.delete(
                self._collection, points_selector=models.PointIdsList(points=list(ids)), wait=True
            ))

    async def delete_document(self, client_slug: str, doc_name: str, source: str) -> int:
        document = _document_filter(client_slug, doc_name, source)
        existing = (await self._call(self._client.count(self._collection, document))).count
        if existing:
            await self._call(self._client.delete(
                self._collection, points_selector=models.FilterSelector(filter=document), wait=True
            ))
        return existing

    async def point_ids(self, client_slug: str, doc_name: str, source: str) -> set[str]:
        records = await self._scroll(_document_filter(client_slug, doc_name, source), False)
        return {str(record.id) for record in records}

    async def payloads(self, client_slug: str, doc_name: str, source: str) -> dict[str, dict]:
        records = await self._scroll(_document_filter(client_slug, doc_name, source), True)
        return {str(record.id): dict(record.payload or {}) for record in records}

    async def delete_client(self, client_slug: str) -> int:
        tenant = _tenant_filter(client_slug)
        existing = (await self._call(self._client.count(self._collection, tenant, exact=True))).count
        if existing:
            await self._call(self._client.delete(
                self._collection, points_selector=models.FilterSelector(filter=tenant), wait=True))
        return existing

    async def exists(self) -> bool:
        return bool(await self._call(self._client.collection_exists(self._collection)))

    async def drop(self) -> None:
        """Delete the whole collection (a replaced one, after a rebuild)."""
        await self._call(self._client.delete_collection(self._collection))

    async def search(self, query: SearchQuery) -> list[SearchHit]:
        flt = _search_filter(query)
        indices, values = lexical.sparse_query(query.text)
        use_lexical = self._has_lexical and bool(indices) and query.mode is not RetrievalMode.DENSE
        if not use_lexical:
            response = await self._call(self._client.query_points(
                self._collection, query=query.vector, limit=max(query.limit * 3, 10),
                query_filter=flt, with_payload=True,
                with_vectors=[DENSE] if self._has_lexical else True))
            return rescore(query, ((p.id, p.vector, p.payload) for p in response.points))
        # a collection with the lexical vector is one this adapter made (cosine): the server
        # scores the lexical branch's points densely, their vectors are not shipped
        sparse = models.SparseVector(indices=indices, values=values)
        lexical_request = models.QueryRequest(query=sparse, using=LEXICAL, limit=query.limit,
                                              filter=flt, with_payload=True, with_vector=False)
        if query.mode is RetrievalMode.LEXICAL:
            found = (await self._call(self._client.query_batch_points(
                self._collection, [lexical_request])))[0].points
            scores = await self._dense_scores(query.vector, [str(p.id) for p in found])
            return rescore(query, ((p.id, None, p.payload) for p in found), dense=scores)
        nearest, found = (response.points for response in await self._call(
            self._client.query_batch_points(self._collection, [
                models.QueryRequest(query=query.vector, limit=query.limit, filter=flt,
                                    with_payload=True, with_vector=False),
                lexical_request])))
        scores = {str(p.id): p.score for p in nearest}
        scores.update(await self._dense_scores(
            query.vector, [str(p.id) for p in found if str(p.id) not in scores]))
        return rescore(query, ((p.id, None, p.payload) for p in [*nearest, *found]),
                       {str(p.id): p.score for p in found}, cut=False, dense=scores)

    async def _dense_scores(self, vector: Sequence[float], ids: list[str]) -> dict[str, float]:
        """The dense query's cosine with each of these points, computed by the server."""
        if not ids:
            return {}
        scored = await self._call(self._client.query_points(
            self._collection, query=list(vector), limit=len(ids),
            query_filter=models.Filter(must=[models.HasIdCondition(has_id=ids)]),
            with_payload=False, with_vectors=False))
        return {str(p.id): p.score for p in scored.points}

    async def list_documents(self, client_slug: str) -> list[DocumentInfo]:
        return summarize_documents({"metadata": m} for m in await self._metadata(client_slug))

    async def _metadata(self, client_slug: str) -> list[dict[str, Any]]:
        records = await self._scroll(_tenant_filter(client_slug), ["metadata"])
        return [(record.payload or {}).get("metadata") or {} for record in records]

    async def count(self, client_slug: str | None = None) -> int:
        flt = _tenant_filter(client_slug) if client_slug else None
        return (await self._call(self._client.count(self._collection, flt, exact=True))).count

    async def aclose(self) -> None:
        await self._client.close()

    async def _scroll(self, flt: models.Filter, with_payload: Any) -> list[models.Record]:
        records: list[models.Record] = []
        offset: Any = None
        while True:
            page, offset = await self._call(self._client.scroll(
                self._collection, flt, limit=SCROLL_PAGE, offset=offset, with_payload=with_payload
            ))
            records.extend(page)
            if offset is None:
                return records

    async def _call(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except Exception as exc:
            raise VectorStoreError(f"Qdrant {self._collection}: {exc}") from exc


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _tenant_filter(client_slug: str) -> models.Filter:
    return models.Filter(must=[_match(CLIENT_KEY, client_slug)])


def _document_filter(client_slug: str, doc_name: str, source: str) -> models.Filter:
    return models.Filter(must=[
        _match(CLIENT_KEY, client_slug), _match(DOC_KEY, doc_name), _match(SOURCE_KEY, source)
    ])


def _search_filter(query: SearchQuery) -> models.Filter:
    must: list[Any] = [_match(CLIENT_KEY, query.client_slug)]
    if query.source:
        must.append(_match(SOURCE_KEY, query.source))
    if query.knowledge_tag:
        # A branch sees its own tagged chunks and the client's untagged (shared) ones.
        must.append(models.Filter(should=[
            _match(TAG_KEY, query.knowledge_tag),
            models.IsEmptyCondition(is_empty=models.PayloadField(key=TAG_KEY)),
        ]))
    return models.Filter(must=must)
