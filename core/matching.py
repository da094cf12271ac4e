"""Text normalisation and phrase / stem matching for the rule layers (intents, policy).

Russian, Kazakh and English customer text is full of typos, doubled letters and missing
punctuation, so both the text and the patterns are normalised the same way, and long stems
also match with one typo. A match knows where it is (word positions), so that a negation next
to it ("менеджер не нужен", "без претензий") can be told apart from a request."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_REPEATS = re.compile(r"(\w)\1+", re.UNICODE)
# Customers rarely type «ё»; the patterns are written with «е».
_YO = str.maketrans({"ё": "е"})
# Stems shorter than this match exactly only: a typo in a short stem makes another word
# ("опоздаю" → "опоздает", Kazakh "беремін" next to "беремен").
FUZZY_MIN_LENGTH = 8
# Words whose candidate patterns and typo matches each compiled pattern set keeps.
WORDS_REMEMBERED = 20_000

T = TypeVar("T")


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


def _typo_of(word: str, stem: str) -> bool:
    """The word starts with the stem spelt with one typo after its first letter (a different
    first letter is another word: "поговорить" is not "договор"). A word shorter than the stem
    is another form of it, not a typo: "позвонит" (will call) is not "позвоните" (call me)."""
    if len(word) < len(stem) or word[0] != stem[0]:
        return False
    return any(_within_one_edit(word[:n], stem) for n in (len(stem) - 1, len(stem), len(stem) + 1))


@dataclass(frozen=True, slots=True)
class Hit:
    """A pattern found in normalised text: words `start` … `end - 1`."""

    pattern: str
    start: int
    end: int


class Patterns:
    """Phrases match whole words in sequence; stems match the start of a word (the last word of
    a several-word stem); stems of FUZZY_MIN_LENGTH letters and more also match with one typo.
    Patterns are indexed by their first word (or first two letters, for one-word stems), so a
    message is matched in one pass over its words."""

    def __init__(self, phrases: tuple[tuple[str, ...], ...] = (),
                 stems: tuple[tuple[str, ...], ...] = ()) -> None:
        self.phrases = phrases
        self.stems = stems
        self._by_word: dict[str, list[tuple[tuple[str, ...], bool]]] = {}
        self._typo_stems: dict[str, list[str]] = {}
        for pattern, prefix in [*((p, False) for p in phrases), *((s, True) for s in stems)]:
            key = f"~{pattern[0][:2]}" if prefix and len(pattern) == 1 else pattern[0]
            self._by_word.setdefault(key, []).append((pattern, prefix))
            if prefix and len(pattern) == 1 and len(pattern[0]) >= FUZZY_MIN_LENGTH:
                self._typo_stems.setdefault(pattern[0][0], []).append(pattern[0])
        self._word_candidates: dict[str, tuple[tuple[tuple[str, ...], bool], ...]] = {}
        self._word_typos: dict[str, tuple[str, ...]] = {}

    def hits(self, words: list[str], *, fuzzy: bool = True) -> list[Hit]:
        """Every occurrence of every pattern in already-normalised, split text; typo matches
        only on words no exact match covers."""
        found: list[Hit] = []
        for i, word in enumerate(words):
            for pattern, prefix in self._candidates(word):
                if len(pattern) == 1 or _matches_at(words, i, pattern, prefix):
                    found.append(Hit(" ".join(pattern), i, i + len(pattern)))
        if fuzzy and self._typo_stems:
            taken = {i for hit in found for i in range(hit.start, hit.end)}
            for i, word in enumerate(words):
                if i not in taken:
                    found += [Hit(stem, i, i + 1) for stem in self._typos(word)]
        return found

    def _candidates(self, word: str) -> tuple[tuple[tuple[str, ...], bool], ...]:
        """The patterns that may start at this word (by its first word or first two letters),
        a one-word pattern only when the word is it (or starts with it, for a stem)."""
        if (known := self._word_candidates.get(word)) is None:
            known = tuple(
                (pattern, prefix)
                for pattern, prefix in (*self._by_word.get(word, ()),
                                        *self._by_word.get(f"~{word[:2]}", ()))
                if len(pattern) > 1 or _matches_at([word], 0, pattern, prefix))
            _remember(self._word_candidates, word, known)
        return known

    def _typos(self, word: str) -> tuple[str, ...]:
        """The long stems this word starts with, spelt with one typo. The edit distances are
        the rules' main cost and a customer's words repeat, so each word's answer is kept."""
        if (known := self._word_typos.get(word)) is None:
            known = tuple(stem for stem in self._typo_stems.get(word[:1], ())
                          if _typo_of(word, stem))
            _remember(self._word_typos, word, known)
        return known

    def find(self, normalized_text: str, *, fuzzy: bool = True) -> str | None:
        """The first pattern found in already-normalised text, or None. Exact matches win over
        fuzzy ones; pass fuzzy=False to look for exact matches only."""
        words = normalized_text.split()
        exact = self.hits(words, fuzzy=False)
        if exact:
            return exact[0].pattern
        typos = self.hits(words, fuzzy=True) if fuzzy else []
        return typos[0].pattern if typos else None


def _remember(memo: dict[str, T], word: str, value: T) -> None:
    """A word's answer kept, the memo emptied once it holds WORDS_REMEMBERED (a bound on
    memory whatever customers type)."""
    if len(memo) >= WORDS_REMEMBERED:
        memo.clear()
    memo[word] = value


def _matches_at(words: list[str], i: int, pattern: tuple[str, ...], prefix: bool) -> bool:
    n = len(pattern)
    if i + n > len(words) or words[i:i + n - 1] != list(pattern[:-1]):
        return False
    last = words[i + n - 1]
    return last == pattern[-1] or (prefix and last.startswith(pattern[-1]))


@lru_cache(maxsize=512)
def compile_patterns(phrases: tuple[str, ...] = (), stems: tuple[str, ...] = ()) -> Patterns:
    return Patterns(
        phrases=tuple(tuple(p.split()) for p in (normalize(x) for x in phrases) if p),
        stems=tuple(tuple(s.split()) for s in (normalize(x) for x in stems) if s),
    )
