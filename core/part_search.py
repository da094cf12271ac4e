"""A question asking two things ("сколько стоит X и до скольки вы работаете в субботу?"): each
part that asks something (`core.answer_extraction.asking_parts`) is searched on its own too, so
that the line answering it can be found when the whole question's search ranks it low (the
no-LLM reply takes a part's line from the whole question's first PART_COVERED passages or from
that part's own passage; knowledge/README.md, round 17). A part is searched with the whole
question's embedding and its own words (the lexical branch and the fusion's line features): an
embedding of its own cost the bundled model a query's CPU a part, which halved the turns a
second of a message asking two things, and read no better (round 19)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.knowledge_types import Passage, RetrievalMode, SearchHit
from core.passages import passages_from_hits, section_key

if TYPE_CHECKING:
    from core.knowledge import KnowledgeBase

# A part adds its own passage when its section is not among the whole question's first
# PART_COVERED passages.
PART_COVERED = 2
# Parts searched at most: the reply answers two, and a message of many questions (pasted,
# or a flood) must not cost a search each.
MAX_PARTS = 3
# Candidates a part's search takes from each branch (the whole question's: CANDIDATES): it
# wants only its best passage, and the fusion's time grows with the candidates (dev out of
# fold: replies and facts within 1,500 characters the same at 10 as at 30; a two-part
# search 15-20 % faster; knowledge/README.md, round 19).
PART_CANDIDATES = 10


async def part_passages(kb: KnowledgeBase, client_slug: str, parts: Sequence[str],
                        ranked: Sequence[SearchHit], vector: Sequence[float], limit: int, *,
                        knowledge_tag: str | None, mode: RetrievalMode | None,
                        synonyms: Sequence[Sequence[str]]) -> list[Passage]:
    """The first MAX_PARTS parts searched with the whole question's `vector` (PART_CANDIDATES
    a branch, no re-ranker: a search a part for the one passage the fusion puts first); the
    best passage of each whose section is not among the whole question's first passages (the
    first PART_COVERED sections of its `ranked` hits, at most `limit`: the passages it returns)
    or found already, marked with its part (`Passage.part`). They go after the whole question's
    passages: the ranking stays the whole question's, and the LLM's context holds them when it
    has room."""
    taken = list(dict.fromkeys(section_key(hit) for hit in ranked))[:min(PART_COVERED, limit)]
    found: list[Passage] = []
    for part in parts[:MAX_PARTS]:
        hits, _ = await kb.candidates(client_slug, part, knowledge_tag=knowledge_tag, mode=mode,
                                      query_vector=vector, synonyms=synonyms, rerank=False,
                                      limit=PART_CANDIDATES)
        if not hits or hits[0].score < kb.thresholds.answer or section_key(hits[0]) in taken:
            continue
        taken.append(section_key(hits[0]))
        passage, = passages_from_hits(hits[:1], 1)
        found.append(dataclasses.replace(passage, part=part))
    return found
