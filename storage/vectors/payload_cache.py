"""Chunk payloads kept in memory by point id, least recently used first out.

Reading a hit's payload out of the embedded store is most of a search's cost (a hybrid
query_batch of 2 x 30 candidates: 0.64 ms with payloads, 0.11 ms without), and a knowledge
base's chunks change only when it is written (ingest, delete, rebuild), all through one store
object, which empties the cache around each write. The payloads handed out are shared: read
them, never change them."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

# Chunks. Measured: ~3.4 KiB a payload (benchmarks/vector_search.py's chunks: 190 characters in
# an 800-character section), so ~13 MiB when full; all of a 10,000-chunk store would be ~33 MiB.
DEFAULT_CAPACITY = 4096


class PayloadCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, ids: Iterable[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """The cached payloads of these ids (each marked as just used), and the ids missing
        (each once)."""
        found: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        entries = self._entries
        for key in dict.fromkeys(ids):
            payload = entries.get(key)
            if payload is None:
                missing.append(key)
            else:
                entries.move_to_end(key)
                found[key] = payload
        return found, missing

    def put(self, key: str, payload: dict[str, Any]) -> None:
        self._entries[key] = payload
        self._entries.move_to_end(key)
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
