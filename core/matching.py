"""Text normalisation and phrase / stem matching for the rule layers (intents, policy).

Russian, Kazakh and English customer text is full of typos, doubled letters and missing
punctuation, so both the text and the patterns are normalised the same way, and long stems
also match with one typo."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_REPEATS = re.compile(r"(\w)\1+", re.UNICODE)
# Customers rarely type «ё»; the patterns are written with «е».
_YO = str.maketrans({"ё": "е"})


def normalize(text: str) -> str:
    """Lower case, ё→е, punctuation to spaces, doubled letters squeezed ("спасибооо" → "спасибо")."""
    lowered = text.lower().translate(_YO).replace("_", " ")
    squeezed = _REPEATS.sub(r"\1", lowered)
    return _NON_WORD.sub(" ", squeezed).strip()


def _within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance ≤ 1 (one insertion, deletion, substitution or swap)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]])
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


@dataclass(frozen=True, slots=True)
class Patterns:
    """Phrases match whole words in sequence; stems match the start of a word (with one typo when
    the stem is long enough that a typo cannot make it another word)."""

    phrases: tuple[str, ...] = ()
    stems: tuple[str, ...] = ()

    def find(self, normalized_text: str, *, fuzzy: bool = True) -> str | None:
        """The first pattern found in already-normalised text, or None. Exact matches win over
        fuzzy ones; pass fuzzy=False to look for exact matches only."""
        padded = f" {normalized_text} "
        for phrase in self.phrases:
            if f" {phrase} " in padded:
                return phrase
        words = normalized_text.split()
        for stem in self.stems:
            if (" " in stem and f" {stem}" in padded) or any(w.startswith(stem) for w in words):
                return stem
        if not fuzzy:
            return None
        for stem in self.stems:
            if len(stem) < 6 or " " in stem:
                continue
            for word in words:
                if len(word) >= len(stem) - 1 and any(
                    _within_one_edit(word[:n], stem) for n in (len(stem) - 1, len(stem), len(stem) + 1)
                ):
                    return stem
        return None


@lru_cache(maxsize=512)
def compile_patterns(phrases: tuple[str, ...] = (), stems: tuple[str, ...] = ()) -> Patterns:
    return Patterns(
        phrases=tuple(p for p in (normalize(x) for x in phrases) if p),
        stems=tuple(s for s in (normalize(x) for x in stems) if s),
    )
