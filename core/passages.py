"""From ranked fact-sized hits to passages: hits of one section become one passage (parent/child
expansion), whose content is the section's heading path and its lines around the hits, within a
character budget and never cut inside a line (a table row, a list item, a sentence)."""

from __future__ import annotations

from collections.abc import Sequence

from core.chunking import section_units, split_heading
from core.knowledge_types import SOURCE_DOCUMENT, Passage, SearchHit

PASSAGE_CHARS = 700  # the most of a section the first passage hands over
# ... and each later one: less, so that more sections fit the LLM's context (on dev, with the
# first at 700: the facts within 1,500 characters 0.884 -> 0.890 at 500, every base gaining).
LATER_PASSAGE_CHARS = 500


def passages_from_hits(hits: Sequence[SearchHit], limit: int, budget: int = PASSAGE_CHARS,
                       later_budget: int = LATER_PASSAGE_CHARS) -> list[Passage]:
    """Group ranked hits by section, in the order of each section's best hit; the first
    passage gets `budget` characters, the later ones `later_budget`."""
    groups: dict[tuple[str, str], list[SearchHit]] = {}
    for hit in hits:
        groups.setdefault(section_key(hit), []).append(hit)
    passages = []
    for rank, ((doc_name, section), members) in enumerate(list(groups.items())[:limit]):
        metadata = members[0].payload.get("metadata") or {}
        matched = tuple(_unit(str(h.payload.get("content", ""))) for h in members)
        room = budget if rank == 0 else later_budget
        passages.append(Passage(
            content=expand(section, matched, room) if hit_has_section(members[0]) else section,
            doc_name=doc_name,
            source=str(metadata.get("source", SOURCE_DOCUMENT)),
            score=max(h.score for h in members),
            knowledge_tag=metadata.get("knowledge_tag"),
            matched=matched,
            matched_scores=tuple(h.fused for h in members),
        ))
    return passages


def section_key(hit: SearchHit) -> tuple[str, str]:
    """The passage a hit belongs to: its document and its section (a one-line section is
    stored without one: the chunk is all of it)."""
    metadata = hit.payload.get("metadata") or {}
    return (str(metadata.get("doc_name", "")),
            str(hit.payload.get("section") or hit.payload.get("content", "")))


def hit_has_section(hit: SearchHit) -> bool:
    return bool(hit.payload.get("section"))


def _unit(content: str) -> str:
    return split_heading(content)[1]


def expand(section: str, matched: Sequence[str], budget: int = PASSAGE_CHARS) -> str:
    """The section's heading and units: all of it when it fits the budget, else the matched
    units (best first get room first) and their neighbours, in document order."""
    heading, body = split_heading(section)
    units = section_units(body.split("\n"))
    whole = "\n".join(units)
    if len(heading) + 1 + len(whole) <= budget:
        return f"{heading}\n{whole}" if heading else whole
    room = budget - len(heading) - 1
    chosen: set[int] = set()
    order = [units.index(m) for m in matched if m in units]
    neighbours = [j for step in range(1, len(units)) for i in order
                  for j in (i - step, i + step) if 0 <= j < len(units)]
    for index in dict.fromkeys([*order, *neighbours, *range(len(units))]):
        size = len(units[index]) + 1
        if size <= room:
            chosen.add(index)
            room -= size
        elif index in order and not chosen:
            chosen.add(index)  # the best unit always goes in, even alone over the budget
            room = 0
    lines = [units[i] for i in sorted(chosen)]
    return f"{heading}\n" + "\n".join(lines) if heading else "\n".join(lines)
