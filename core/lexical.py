"""Character n-grams: the lexical signal of hybrid retrieval and of the no-LLM answer check."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from functools import lru_cache

NGRAM = 3
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_DIGIT_GROUP = re.compile(r"(?<=\d)[\s\u00a0\u202f](?=\d{3}\b)")


def _words(text: str) -> list[str]:
    """The words n-grams are made of: lower-cased, `ё` → `е`, digit groups joined."""
    return _WORD.findall(_DIGIT_GROUP.sub("", text.lower().replace("ё", "е")))


def char_ngrams(text: str) -> list[str]:
    """Character 3-grams of the words of `text`: lower-cased, `ё` → `е`, digit groups joined
    ("5 000" → "5000"), each word padded with a space so word starts and ends count."""
    grams: list[str] = []
    for word in _words(text):
        padded = f" {word} "
        grams.extend(padded[i : i + NGRAM] for i in range(max(len(padded) - NGRAM + 1, 1)))
    return grams


def held_ngrams(grams: Iterable[str], text: str) -> int:
    """How many of these distinct n-grams (of `char_ngrams`) the text holds. A search fuses ~50
    candidates, each read for the question's n-grams up to twice (85 of them for a two-part
    question with its synonyms): a substring search per n-gram in the text's words took ~36 µs
    a line, the text's cached n-gram set 1.3 µs."""
    return len(_gram_set(text).intersection(grams))


def distinct_ngrams(text: str) -> int:
    """How many different n-grams the text has (`len(set(char_ngrams(text)))`)."""
    return len(_gram_set(text))


# A knowledge base's lines come back search after search. A line's set takes ~9 KB (its
# n-grams interned, shared between lines): ~18 MB when full, ~5 MB for a base of 600 lines.
@lru_cache(maxsize=2048)
def _gram_set(text: str) -> frozenset[str]:
    return frozenset(map(sys.intern, char_ngrams(text)))
