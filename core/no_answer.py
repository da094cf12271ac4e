"""Whether a search found nothing the base can answer with: a logistic model over ten signals of
the question and its candidates, calibrated per embedding model on the dev split
(`gateway.no_answer_calibration`, knowledge/README.md).

Dense scores of a small model do not tell a question the base cannot answer from one it can
(e5-small: 0.75-0.88 for both), and the candidates' margin alone declines a fifth of them. What
the dev questions the base cannot answer share is their shape: "do you do X?" where X is a
thing the base never names ("делаете МРТ?", "венок на похороны есть?"). So the model also reads
whether the question asks if something exists, how many of its content words none of the
candidates holds (endings and a typo aside), how much of it the best section names, whether it
is English (scores lower, and its words are never in a Russian base), and how long it is. A word
counts as absent only when it names a thing (a noun or an adjective by Russian morphology, or
a word the morphology does not know but a Kazakh verb form): "делаете", "чтоб", "возле",
«қоятын» are in no candidate either. A Kazakh word is looked for without its endings
(«Мегадағы» → «Мега»), and a candidate's Latin names in Cyrillic too («Kaspi» → «каспи»)."""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

import pymorphy3

from core.query_text import (
    STOPWORDS,
    content_words,
    cyrillize,
    folded_words,
    looks_transliterated,
    strip_kazakh_endings,
    word_stem,
)

if TYPE_CHECKING:
    from core.knowledge_types import SearchHit

# How many of the best candidates the margin is measured against, and its cap (fewer
# candidates than the pool, or a margin past the cap, says the same: the best stands out).
MARGIN_POOL = 20
MARGIN_CAP = 0.06
WORD_MIN = 4  # shorter words are mostly function words
SIMILAR = 0.5  # a word this close (3-gram Jaccard) to a candidate's word is that word misspelt
ABSENT_CAP = 4
WORDS_CAP = 8
# "Is there / do you do / can I …": the shape of a question about something the base may not
# offer (Russian, Kazakh, English; Russian in Latin letters is read in Cyrillic first, "est li"
# as «ест ли»).
EXISTENCE = re.compile(
    r"\b(?:делает|делаете|делаите|делают|есть\b|бар\b|жасайсыз|продаете|продаёте|проводите|"
    r"принима|ставите|оказыва|можно|ест\b|do you|can i|can you|is there|are there)",
    re.IGNORECASE)
_LATIN = re.compile(r"[A-Za-z]")
_CYRILLIC = re.compile(r"[А-Яа-яЁё]")
# Parts of speech that name no thing (pymorphy3's tags): verbs, participles, adverbs,
# prepositions, conjunctions, pronouns, particles. "делаете", "возле", "себе", "чтоб" are no
# more absent from a base that can answer than from one that cannot.
NOT_A_THING = frozenset({"VERB", "INFN", "PRTF", "PRTS", "GRND", "ADVB", "PREP", "CONJ", "NPRO",
                         "PRCL", "PRED", "INTJ", "COMP", "NUMR"})
# The endings of Kazakh verb forms and postpositions («қоятын», «жасайсыздар», «қаралғанда»,
# «алдында»): a word the Russian morphology does not know that ends so names no thing.
KAZAKH_VERB_FORMS = re.compile(
    r"(?:[аеяй]тын|[аеяй]тін|ғанда|генде|қанда|кенде|сыздар|сіздер|сыз|сіз|ған|ген|қан|кен|"
    r"ынды|інде|ында)$")
FEATURES = ("cosine", "margin", "fused", "existence", "absent", "absent_share",
            "in_section", "english", "words", "existence_absent")


@dataclass(frozen=True, slots=True)
class NoAnswerModel:
    """Weights per FEATURES (raw units), a bias, and the probability at or above which the
    search declines."""

    weights: tuple[float, ...]
    bias: float
    threshold: float

    def probability(self, features: Sequence[float]) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-z))

    def declines(self, features: Sequence[float]) -> bool:
        return self.probability(features) >= self.threshold


def features(question: str, dense_query: str, hits: Sequence[SearchHit]) -> tuple[float, ...]:
    """FEATURES of a question (`dense_query`: as normalised for the embedding, Russian in Latin
    letters read in Cyrillic) and its ranked candidates (best first, at least one)."""
    best = hits[0]
    pool = sorted((hit.score for hit in hits), reverse=True)[:MARGIN_POOL]
    margin = pool[0] - sum(pool) / len(pool) if len(pool) >= MARGIN_POOL else MARGIN_CAP
    words = list(dict.fromkeys(
        w for w in folded_words(content_words(dense_query)) if len(w) >= WORD_MIN and w not in STOPWORDS))
    ordered = sorted(frozenset().union(
        *(_line_words(str(hit.payload.get("content", ""))) for hit in hits)))
    absent = sum(1 for w in words if names_a_thing(w) and not _starts(word_stem(w), ordered)
                 and not _starts(_kazakh_stem(w), ordered) and not _misspelt(w, ordered))
    section = set(folded_words(str(best.payload.get("section") or best.payload.get("content", ""))))
    in_section = sum(1 for w in words if _has_stem(w, section)) / len(words) if words else 1.0
    existence = bool(EXISTENCE.search(dense_query))
    english = bool(_LATIN.search(question)) and not _CYRILLIC.search(question) \
        and not looks_transliterated(question)
    return (best.score, min(margin, MARGIN_CAP),
            best.fused if best.fused is not None else best.score, float(existence),
            float(min(absent, ABSENT_CAP)), absent / max(len(words), 1), in_section,
            float(english), float(min(len(words), WORDS_CAP)), float(existence and absent > 0))


@lru_cache(maxsize=10_000)
def names_a_thing(word: str) -> bool:
    """A noun or an adjective by Russian morphology, or a word it does not know (a term, a
    brand, Kazakh, English, a typo)."""
    parse = _morphology().parse(word)[0]
    if not parse.is_known:
        return not KAZAKH_VERB_FORMS.search(word)
    return parse.tag.POS not in NOT_A_THING


@cache
def _morphology() -> pymorphy3.MorphAnalyzer:
    """The analyser with its Russian dictionaries (a package, nothing downloaded), loaded once."""
    return pymorphy3.MorphAnalyzer(lang="ru")


@lru_cache(maxsize=20_000)
def _line_words(content: str) -> frozenset[str]:
    """A candidate's words, its Latin ones also read in Cyrillic («Kaspi», «Mega» are asked as
    «каспи», «мега»; cached: the same chunks come back search after search)."""
    return frozenset(folded_words(content)) | frozenset(folded_words(cyrillize(content)))


def _starts(stem: str, ordered: list[str]) -> bool:
    """Whether a word of `ordered` (sorted) starts with `stem`."""
    i = bisect_left(ordered, stem)
    return i < len(ordered) and ordered[i].startswith(stem)


@lru_cache(maxsize=10_000)
def _kazakh_stem(word: str) -> str:
    """A word without its Kazakh endings; the word itself when Russian morphology knows it."""
    return word if _morphology().parse(word)[0].is_known else strip_kazakh_endings(word)


def _has_stem(word: str, others: set[str]) -> bool:
    stem = word_stem(word)
    return any(other.startswith(stem) for other in others)


def _misspelt(word: str, ordered: list[str]) -> bool:
    """Whether a word of `ordered` (sorted) is this one with a typo after its first letter: their
    3-gram sets overlap by SIMILAR or more (Jaccard; so neither has more than twice the other's
    3-grams). Only the words with the same first letter are compared (a search's candidates hold
    about a thousand words)."""
    grams = _grams(word)
    first = bisect_left(ordered, word[0])
    last = bisect_left(ordered, chr(ord(word[0]) + 1), first)
    return any(len(grams) <= 2 * len(g := _grams(other)) <= 4 * len(grams)
               and len(grams & g) >= SIMILAR * len(grams | g) for other in ordered[first:last])


@lru_cache(maxsize=100_000)
def _grams(word: str) -> frozenset[str]:
    padded = f" {word} "
    return frozenset(padded[i:i + 3] for i in range(len(padded) - 2))
