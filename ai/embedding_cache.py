"""A file cache in front of an embedder, for evaluation runs that embed the same knowledge bases
again and again (the bundled model needs ~1-2 ms a token on a shared 2-core machine).

Vectors are keyed by the embedder's name, the kind (query / passage) and a hash of the exact
text, so a cached vector is the one the model would return; anything missing is embedded and
added. The cache file is a compressed numpy archive, written by `save()` (with `used_only`,
only the vectors asked for since loading: a regenerated cache drops what no text needs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.knowledge_ports import EmbedderInFront
from core.ports import Embedder


class CachedEmbedder(EmbedderInFront):
    def __init__(self, inner: Embedder, path: Path) -> None:
        super().__init__(inner)
        self._path = path
        self._vectors: dict[str, list[float]] = {}
        self._used: set[str] = set()
        self._dirty = False
        if path.exists():
            with np.load(path) as archive:
                keys, matrix = archive["keys"], archive["vectors"]
                self._vectors = {str(k): row.tolist() for k, row in zip(keys, matrix, strict=True)}

    def _key(self, kind: str, text: str) -> str:
        return hashlib.sha256(f"{self._inner.name}\x1f{kind}\x1f{text}".encode()).hexdigest()[:40]

    async def _cached(self, kind: str, texts: Sequence[str]) -> list[list[float]]:
        keys = [self._key(kind, text) for text in texts]
        self._used.update(keys)
        missing = sorted({(k, t) for k, t in zip(keys, texts, strict=True) if k not in self._vectors})
        if missing:
            embed = self._inner.embed_queries if kind == "query" else self._inner.embed_passages
            vectors = await embed([text for _, text in missing])
            for (key, _), vector in zip(missing, vectors, strict=True):
                self._vectors[key] = list(vector)
            self._dirty = True
        return [self._vectors[key] for key in keys]

    async def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        return await self._cached("query", texts)

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return await self._cached("passage", texts)

    def save(self, *, used_only: bool = False) -> None:
        if not self._dirty and not used_only:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self._used if used_only else self._vectors)
        matrix = np.array([self._vectors[k] for k in keys], dtype=np.float32)
        with self._path.open("wb") as file:
            np.savez_compressed(file, keys=np.array(keys), vectors=matrix)
        self._dirty = False

    async def aclose(self) -> None:
        self.save()
        await self._inner.aclose()
