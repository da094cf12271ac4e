"""The embedder as the gateway sees it: every call timed and its outcome counted
(`truffles_embedder_seconds`, `truffles_embedder_calls_total`), the adapter itself untouched."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

from core.knowledge_ports import EmbedderInFront
from gateway import metrics


class ObservedEmbedder(EmbedderInFront):
    async def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        return await _observed("query", self._inner.embed_queries, texts)

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return await _observed("passage", self._inner.embed_passages, texts)


async def _observed(kind: str, embed: Callable[[Sequence[str]], Awaitable[list[list[float]]]],
                    texts: Sequence[str]) -> list[list[float]]:
    started = time.perf_counter()
    outcome = "error"
    try:
        vectors = await embed(texts)
        outcome = "ok"
        return vectors
    finally:
        metrics.EMBED_SECONDS.labels(kind).observe(time.perf_counter() - started)
        metrics.EMBED_CALLS.labels(kind, outcome).inc()
