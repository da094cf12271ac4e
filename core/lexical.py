"""Character n-grams: the lexical signal of hybrid retrieval and of the no-LLM answer check."""

from __future__ import annotations

import re

NGRAM = 3
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_DIGIT_GROUP = re.compile(r"(?<=\d)[\s\u00a0\u202f](?=\d{3}\b)")


def char_ngrams(text: str) -> list[str]:
    """Character 3-grams of the words of `text`: lower-cased, `ё` → `е`, digit groups joined
    ("5 000" → "5000"), each word padded with a space so word starts and ends count."""
    text = _DIGIT_GROUP.sub("", text.lower().replace("ё", "е"))
    grams: list[str] = []
    for word in _WORD.findall(text):
        padded = f" {word} "
        grams.extend(padded[i : i + NGRAM] for i in range(max(len(padded) - NGRAM + 1, 1)))
    return grams
