"""What both vector stores share: payload keys, collection naming, hit scoring, listings."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from core.knowledge_types import DocumentInfo, SearchHit, SearchQuery

DENSE = ""  # the unnamed default vector, as the n8n Knowledge Sync collection has it
LEXICAL = "lexical"
CLIENT_KEY = "metadata.client_slug"
TAG_KEY = "metadata.knowledge_tag"
DOC_KEY = "metadata.doc_name"
SOURCE_KEY = "metadata.source"
INDEXED_KEYS = (CLIENT_KEY, TAG_KEY, DOC_KEY, SOURCE_KEY)

# Candidates each retrieval branch hands to the fusion; the dense threshold is applied after.
PREFETCH_LIMIT = 30
# RRF constant (Qdrant's default is 2) and branch weights [dense, lexical]: the best of
# k in {2, 10, 30, 60} x weights on the demo eval set (knowledge/README.md).
RRF_K = 2
RRF_WEIGHTS = [1.0, 1.5]
SCROLL_PAGE = 512


def collection_name(base: str, embedder_name: str, *, keep_base: bool) -> str:
    """One collection per embedding model and dimension, so vectors never mix.

    `keep_base` (the TEI/BGE-M3 production set-up, whose collection the n8n Knowledge Sync
    wrote) uses the configured name as is; other embedders get a suffix, e.g.
    `truffles_knowledge__local-e5-small-384`.
    """
    if keep_base:
        return base
    suffix = re.sub(r"[^a-z0-9.-]+", "-", embedder_name.lower()).strip("-")
    return f"{base}__{suffix}"


def dense_part(vector: Any) -> list[float] | None:
    """The dense vector of a returned point, whether named vectors came back or not."""
    if isinstance(vector, dict):
        vector = vector.get(DENSE)
    return list(vector) if vector is not None else None


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = (sum(x * x for x in a) * sum(y * y for y in b)) ** 0.5
    return dot / norm if norm else 0.0


def rescore(query: SearchQuery, points: Iterable[tuple[Any, Any, Any]]) -> list[SearchHit]:
    """Turn ranked (id, vector, payload) points into hits scored by dense cosine, keep the
    ranking, drop those under the threshold, cut to the limit."""
    hits: list[SearchHit] = []
    for point_id, vector, payload in points:
        dense = dense_part(vector)
        score = cosine(query.vector, dense) if dense else 0.0
        if query.score_threshold is not None and score < query.score_threshold:
            continue
        hits.append(SearchHit(id=str(point_id), score=score, payload=payload or {}))
        if len(hits) == query.limit:
            break
    return hits


def summarize_documents(payloads: Iterable[dict[str, Any]]) -> list[DocumentInfo]:
    """Group chunk payloads into one row per (doc_name, source)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for payload in payloads:
        metadata = payload.get("metadata") or {}
        key = (str(metadata.get("doc_name", "")), str(metadata.get("source", "document")))
        row = rows.setdefault(key, {"chunks": 0, "updated_at": None, "tag": None})
        row["chunks"] += 1
        updated = metadata.get("updated_at")
        if updated and (row["updated_at"] is None or str(updated) > row["updated_at"]):
            row["updated_at"] = str(updated)
        row["tag"] = row["tag"] or metadata.get("knowledge_tag")
    return [
        DocumentInfo(doc_name=name, source=source, chunks=row["chunks"],
                     updated_at=row["updated_at"], knowledge_tag=row["tag"])
        for (name, source), row in sorted(rows.items())
    ]
