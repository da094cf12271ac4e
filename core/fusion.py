"""Fusion of the hybrid search's candidates: one score per fact-sized chunk from the dense
cosine, the lexical (character n-gram) score relative to the best candidate's, the share of the
question's n-grams the chunk holds, how much of the name of the thing its line is about (a table
row's first cell, a list item's or sentence's opening words) the question names, whether its
line states the kind of fact asked for (`core.answer_types`), and whether it is a Kazakh line
while the question is not in Kazakh (`foreign_line`). The weights are calibrated per
embedding model on the dev split of the labelled sets (`ScoreThresholds`, knowledge/README.md):
a score-based fusion keeps the dense model's confidence, which rank fusion (RRF) throws away.
When the best two chunks of different sections are a close call, the section whose title names
more of the question goes first."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from core.answer_types import asked_kinds, kind_match
from core.chunking import heading_title, split_heading
from core.knowledge_types import SOURCE_LEARNED, ScoreThresholds, SearchHit
from core.language import KAZAKH, detect_language, has_kazakh_letters
from core.lexical import char_ngrams, distinct_ngrams, held_ngrams

NAME_SEPARATOR = " — "  # a rendered table row: "first cell — column: value; …"
NAME_CHARS = 60  # the opening words of a line that is not a row, taken as its name
# Fused scores this close are a call the search cannot make (about the confidence margin): the
# section title decides which goes first, and a no-LLM reply shows both lines.
CLOSE_CALL = 0.01


def line_name(unit: str) -> str:
    """What a line is about: a table row's first cell, else its opening words."""
    name = unit.split(NAME_SEPARATOR, 1)[0]
    return name if len(name) <= NAME_CHARS else name[:NAME_CHARS]


def name_coverage(query_grams: set[str], unit: str) -> float:
    """The share of the line's name that the question names: "вечерний макияж у топ визажиста"
    names all of «Вечерний макияж» and little of «Ранний выезд», though both sit under a
    heading with "визажист" in it."""
    name = line_name(unit)
    grams = distinct_ngrams(name)
    return held_ngrams(query_grams, name) / grams if grams else 0.0


def foreign_line(unit: str, question_language: str | None) -> bool:
    """A Kazakh line for a question in Russian or English. Bilingual bases state many facts
    twice, in a Russian section and its Kazakh copy, and the two score alike; the customer is
    better served by the copy in a language they wrote in, and Russian is the one the rest of
    such a base is written in (dev, rounds 8-9 unseen while tuning: R@1 0.731 -> 0.752, reply
    0.721 -> 0.741; knowledge/README.md)."""
    return question_language != KAZAKH and _kazakh_line(unit)


@lru_cache(maxsize=16384)  # a base's lines come back search after search
def _kazakh_line(unit: str) -> bool:
    """Detected (~0.2 ms a line) only for a line with a letter of Kazakh's own: Kazakh in a
    knowledge base is written with them (every one of the 267 Kazakh lines of the labelled
    bases), and most lines are Russian."""
    return has_kazakh_letters(unit) and detect_language(unit) == KAZAKH


def fused_score(hit: SearchHit, lexical: float, query_grams: set[str], best_lexical: float,
                asked: frozenset[str], weights: ScoreThresholds,
                question_language: str | None = None) -> float:
    content = str(hit.payload.get("content", ""))
    unit = split_heading(content)[1]
    coverage = held_ngrams(query_grams, content) / len(query_grams) if query_grams else 0.0
    relative = lexical / best_lexical if best_lexical > 0 else 0.0
    kinds = kind_match(asked, unit) if asked else 0
    named = name_coverage(query_grams, unit) if weights.name_weight else 0.0
    foreign = foreign_line(unit, question_language) if weights.language_weight else False
    return (hit.score + weights.lexical_weight * relative + weights.coverage_weight * coverage
            + weights.kind_weight * kinds + weights.name_weight * named
            - weights.language_weight * foreign)


def fuse(hits: Sequence[SearchHit], question: str, lexical_query: str,
         weights: ScoreThresholds, lexical_limit: int | None = None) -> list[SearchHit]:
    """The candidates with their fused score (`SearchHit.fused`), best first.

    A candidate only the dense branch returned has no lexical score: when the lexical branch
    was cut at its limit (`lexical_limit` points), it scored at most the lowest one returned,
    and counts as that (as 0, it lost to every lexical candidate by the whole lexical weight,
    sinking good dense matches: dev R@5 0.913 -> 0.942 in the simulation); when the branch
    returned fewer, nothing of the question matched it, and it counts as 0."""
    grams = set(char_ngrams(lexical_query))
    scored = [hit.lexical for hit in hits if hit.lexical > 0]
    best = max(scored, default=0.0)
    floor = min(scored) if lexical_limit and len(scored) >= lexical_limit else 0.0
    asked = asked_kinds(question)
    language = detect_language(question) if weights.language_weight else None
    fused = []
    for hit in hits:
        lexical = floor if floor and hit.lexical <= 0 else hit.lexical
        fused.append(SearchHit(id=hit.id, score=hit.score, payload=hit.payload, lexical=lexical,
                               fused=fused_score(hit, lexical, grams, best, asked, weights,
                                                 language)))
    return sorted(fused, key=lambda hit: hit.fused or 0.0, reverse=True)


def settle_close_call(ranked: list[SearchHit], lexical_query: str) -> list[SearchHit]:
    """The best two fused document chunks, of different sections and within CLOSE_CALL,
    ordered by how much of the question their section's title names: «Часы работы УЗИ» over
    an FAQ line on the dentist's hours for "узи в субботу до скольки" (dev R@1 0.758 -> 0.775,
    knowledge/README.md); the fused order stands otherwise."""
    query_grams = set(char_ngrams(lexical_query))
    if len(ranked) < 2 or not query_grams:
        return ranked
    first, second = ranked[0], ranked[1]
    if first.fused is None or second.fused is None or first.fused - second.fused > CLOSE_CALL \
            or _learned(first) or _learned(second) or _section(first) == _section(second):
        return ranked
    if title_coverage(query_grams, second) > title_coverage(query_grams, first):
        return [second, first, *ranked[2:]]
    return ranked


def _section(hit: SearchHit) -> str:
    """A chunk's section (a one-line section is stored without one: the chunk is all of it)."""
    return str(hit.payload.get("section") or hit.payload.get("content", ""))


def _learned(hit: SearchHit) -> bool:
    return (hit.payload.get("metadata") or {}).get("source") == SOURCE_LEARNED


def title_coverage(query_grams: set[str], hit: SearchHit) -> float:
    """The share of the question's n-grams in the title of the chunk's section."""
    title = heading_title(split_heading(str(hit.payload.get("content", "")))[0])
    return held_ngrams(query_grams, title) / len(query_grams)
