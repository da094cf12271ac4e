"""The lexical half of hybrid retrieval: character n-gram sparse vectors.

Prices, names, addresses and typos ("маникур", "педикюра", "Kaspi") match better on
character n-grams than on a small dense model (PRODUCT.md §7). Words are lower-cased,
`ё` folded to `е`, digit groups joined ("5 000" → "5000"), padded with a boundary marker and
cut into 3-grams; each gram is hashed (crc32, stable across processes) to a sparse index.
Documents carry BM25-style saturated term frequencies; the store applies IDF (Qdrant's
`Modifier.IDF`), queries carry weight 1 per gram.
"""

from __future__ import annotations

import zlib
from collections import Counter

from core.lexical import char_ngrams

_K1 = 1.2
_B = 0.75
_AVERAGE_GRAMS = 250.0


def _grams(text: str) -> Counter[int]:
    return Counter(zlib.crc32(gram.encode()) for gram in char_ngrams(text))


def sparse_document(text: str) -> tuple[list[int], list[float]]:
    counts = _grams(text)
    length_norm = 1 - _B + _B * sum(counts.values()) / _AVERAGE_GRAMS
    indices = sorted(counts)
    values = [counts[i] * (_K1 + 1) / (counts[i] + _K1 * length_norm) for i in indices]
    return indices, values


def sparse_query(text: str) -> tuple[list[int], list[float]]:
    indices = sorted(_grams(text))
    return indices, [1.0] * len(indices)
