"""What both vector stores share: payload keys, collection naming, hit scoring, listings."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from core.knowledge_types import DocumentInfo, SearchHit, SearchQuery

DENSE = ""  # the unnamed default vector, as the n8n Knowledge Sync collection has it
LEXICAL = "lexical"
CLIENT_KEY = "metadata.client_slug"
TAG_KEY = "metadata.knowledge_tag"
DOC_KEY = "metadata.doc_name"
SOURCE_KEY = "metadata.source"
INDEXED_KEYS = (CLIENT_KEY, TAG_KEY, DOC_KEY, SOURCE_KEY)

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


def cosines(query: Sequence[float], vectors: Sequence[Sequence[float]]) -> list[float]:
    """Cosine of the query with each vector, in one matrix product."""
    if not vectors:
        return []
    matrix = np.asarray(vectors, dtype=np.float32)
    q = np.asarray(query, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(q))
    return [float(v) for v in np.divide(matrix @ q, norms, out=np.zeros(len(vectors),
                                                                        dtype=np.float32),
                                        where=norms > 0)]


def rescore(query: SearchQuery, points: Iterable[tuple[Any, Any, Any]],
            lexical: dict[str, float] | None = None, *, cut: bool = True,
            dense: dict[str, float] | None = None) -> list[SearchHit]:
    """Turn ranked (id, vector, payload) points into hits scored by dense cosine (taken from
    `dense`, the dense branch's own scores, when there; computed otherwise) with their lexical
    score when known; keep the ranking, drop those under the threshold and repeats, cut to the
    limit unless told not to."""
    unique: dict[str, tuple[Any, Any]] = {}
    for point_id, vector, payload in points:
        unique.setdefault(str(point_id), (vector, payload))
    scores = dict(dense or {})
    missing = [(key, dense_part(vector)) for key, (vector, _) in unique.items()
               if key not in scores]
    with_vectors = [(key, values) for key, values in missing if values]
    scores.update(zip((key for key, _ in with_vectors),
                      cosines(query.vector, [values for _, values in with_vectors]),
                      strict=True))
    hits: list[SearchHit] = []
    for key, (_, payload) in unique.items():
        score = scores.get(key, 0.0)
        if query.score_threshold is not None and score < query.score_threshold:
            continue
        hits.append(SearchHit(id=key, score=score, payload=payload or {},
                              lexical=(lexical or {}).get(key, 0.0)))
        if cut and len(hits) == query.limit:
            break
    return hits


def summarize_documents(payloads: Iterable[dict[str, Any]]) -> list[DocumentInfo]:
    """Group chunk payloads into one row per (doc_name, source), with the name pairs its
    chunks taught (`metadata.aliases`)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for payload in payloads:
        metadata = payload.get("metadata") or {}
        key = (str(metadata.get("doc_name", "")), str(metadata.get("source", "document")))
        row = rows.setdefault(key, {"chunks": 0, "updated_at": None, "tag": None, "aliases": {}})
        row["chunks"] += 1
        row["aliases"].update(dict.fromkeys(tuple(pair) for pair in metadata.get("aliases") or ()))
        updated = metadata.get("updated_at")
        if updated and (row["updated_at"] is None or str(updated) > row["updated_at"]):
            row["updated_at"] = str(updated)
        row["tag"] = row["tag"] or metadata.get("knowledge_tag")
    return [
        DocumentInfo(doc_name=name, source=source, chunks=row["chunks"],
                     updated_at=row["updated_at"], knowledge_tag=row["tag"],
                     aliases=tuple(row["aliases"]))
        for (name, source), row in sorted(rows.items())
    ]
