"""Computed vectors kept in files between runs (`core.ports.VectorArchive`): one `.npy` per key
under the directory, written whole or not at all (a temporary file renamed over it), the newest
few kept. A file that cannot be read or written costs only the computation it would have saved.

`shipped`: a read-only directory of the same files that comes with the code (the bundled model's
vectors of the default examples and the decision corpus), looked at when the directory has no
file for a key: a first start needs not embed ~3,600 texts (about a minute of CPU on 2 cores)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class FileVectorArchive:
    def __init__(self, directory: Path, *, keep: int = 8, shipped: Path | None = None) -> None:
        self._directory = directory
        self._keep = keep
        self._shipped = shipped

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError("an archive key is letters and digits (a digest)")
        return self._directory / f"{key}.npy"

    def load(self, key: str, rows: int) -> list[list[float]] | None:
        path = self._path(key)
        if self._shipped is not None and not path.exists():
            path = self._shipped / path.name
        try:
            matrix = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("stored vectors unreadable; computing them again",
                        extra={"file": path.name, "error": type(exc).__name__})
            return None
        if matrix.ndim != 2 or matrix.shape[0] != rows:
            return None
        return matrix.tolist()

    def save(self, key: str, vectors: Sequence[Sequence[float]]) -> None:
        path = self._path(key)
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}")
            with partial.open("wb") as file:
                np.save(file, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
            partial.replace(path)
            self._prune()
        except OSError as exc:
            log.warning("computed vectors not stored", extra={"file": path.name,
                                                              "error": type(exc).__name__})

    def _prune(self) -> None:
        files = sorted(self._directory.glob("*.npy"), key=lambda f: f.stat().st_mtime, reverse=True)
        for stale in files[self._keep:]:
            stale.unlink(missing_ok=True)
