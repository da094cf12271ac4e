"""Splitting a knowledge document into chunks: by headings, then paragraphs, each chunk carrying
its heading path so that it reads on its own (for the model, the lexical index, or a customer in
no-LLM mode)."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CHUNK_CHARS = 800
MIN_CHUNK_CHARS = 300
HEADING_SEPARATOR = " > "
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    text: str


def chunk_document(text: str) -> list[Chunk]:
    """Split markdown or plain text into chunks by headings, then paragraphs.

    Each chunk starts with its heading path ("Услуги > Маникюр") so that a chunk read alone
    (by the model, the lexical index or a customer in no-LLM mode) keeps its context.
    Paragraphs of one section are packed up to MAX_CHUNK_CHARS; sections never mix.
    """
    chunks: list[str] = []
    for path, paragraphs in _sections(text):
        prefix = HEADING_SEPARATOR.join(path)
        budget = MAX_CHUNK_CHARS - len(prefix) - 1
        for body in _pack(paragraphs, max(budget, MIN_CHUNK_CHARS)):
            chunks.append(f"{prefix}\n{body}" if prefix else body)
    return [Chunk(index=i, text=t) for i, t in enumerate(chunks)]


def _sections(text: str) -> list[tuple[list[str], list[str]]]:
    sections: list[tuple[list[str], list[str]]] = []
    path: list[tuple[int, str]] = []
    paragraphs: list[str] = []
    current: list[str] = []

    def end_paragraph() -> None:
        if current:
            paragraphs.append("\n".join(current).strip())
            current.clear()

    def end_section() -> None:
        end_paragraph()
        kept = [p for p in paragraphs if p]
        if kept:
            sections.append(([title for _, title in path], kept))
        paragraphs.clear()

    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        heading = _HEADING.match(line)
        if heading:
            end_section()
            level = len(heading.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level]
            path.append((level, heading.group(2).strip()))
        elif not line.strip():
            end_paragraph()
        else:
            current.append(line)
    end_section()
    return sections


def _pack(paragraphs: list[str], budget: int) -> list[str]:
    pieces: list[str] = []
    for paragraph in paragraphs:
        pieces.extend(_split_long(paragraph, budget))
    bodies: list[str] = []
    for piece in pieces:
        if bodies and len(bodies[-1]) + 2 + len(piece) <= budget:
            bodies[-1] = f"{bodies[-1]}\n\n{piece}"
        else:
            bodies.append(piece)
    return bodies


def _split_long(paragraph: str, budget: int) -> list[str]:
    """Split an over-long paragraph at line, then sentence, then word boundaries."""
    if len(paragraph) <= budget:
        return [paragraph]
    units = paragraph.split("\n") if "\n" in paragraph else _SENTENCE_END.split(paragraph)
    if len(units) == 1:
        units = paragraph.split(" ")
    parts: list[str] = []
    for unit in units:
        joiner = "\n" if "\n" in paragraph else " "
        if parts and len(parts[-1]) + 1 + len(unit) <= budget:
            parts[-1] = f"{parts[-1]}{joiner}{unit}"
        elif len(unit) > budget and unit != paragraph:
            parts.extend(_split_long(unit, budget))
        else:
            parts.append(unit[:budget] if len(unit) > budget else unit)
    return parts
