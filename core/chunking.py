"""Splitting a knowledge document into fact-sized chunks with their section (parent/child).

A document is cut by headings into sections; a section into units the size of one fact: a table
row (read with its column names), a list item (with the line that introduces the list), or a
paragraph (long ones at sentence boundaries). Each chunk is the heading path plus one unit, so it
reads on its own, and carries its whole section, which is what a search hands over (search small,
hand over the section)."""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADING_SEPARATOR = " > "
MAX_UNIT_CHARS = 320  # a paragraph longer than this is cut at sentence boundaries
MAX_LEAD_IN_CHARS = 120  # a line introducing a list ("Важно:") is repeated on each item
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[^\s])")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,2}[.)])\s+")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}")
_DIGIT = re.compile(r"\d")
_BOLD_LABEL = re.compile(r"\*\*[^*]+\*\*:?|__[^_]+__:?")  # "**Алматы**" over a list


@dataclass(frozen=True, slots=True)
class Chunk:
    """`text`: the heading path and one unit (what is embedded, indexed and quoted);
    `section`: the heading path and the whole section the unit belongs to."""

    index: int
    text: str
    section: str

    @property
    def unit(self) -> str:
        return split_heading(self.text)[1]

    @property
    def embedding_text(self) -> str:
        """What the dense model reads: the text without the document's title (the first level
        of a deeper path), which repeats on every chunk and costs model time, not meaning."""
        heading, unit = split_heading(self.text)
        kept = section_path(heading)
        return f"{kept}\n{unit}" if kept else unit


@dataclass(frozen=True, slots=True)
class Section:
    path: tuple[str, ...]
    lines: tuple[str, ...]

    @property
    def heading(self) -> str:
        return HEADING_SEPARATOR.join(self.path)

    def text(self) -> str:
        body = "\n".join(self.lines).strip()
        return f"{self.heading}\n{body}" if self.path else body


def chunk_document(text: str) -> list[Chunk]:
    """Fact-sized chunks of markdown or plain text, in document order, each with its section."""
    chunks: list[Chunk] = []
    for section in sections(text):
        parent = section.text()
        for unit in section_units(section.lines):
            child = f"{section.heading}\n{unit}" if section.path else unit
            chunks.append(Chunk(index=len(chunks), text=child, section=parent))
    return chunks


def section_path(heading: str) -> str:
    """A heading path without the document's title (the first level of a deeper path):
    "Ногтевой сервис > Маникюр: цены" -> "Маникюр: цены"; a one-level path as it is."""
    titles = heading.split(HEADING_SEPARATOR) if heading else []
    return HEADING_SEPARATOR.join(titles[1:] if len(titles) > 1 else titles)


def heading_title(heading: str) -> str:
    """The last heading of a path ("Услуги > Маникюр" -> "Маникюр"); "" for no heading."""
    return heading.split(HEADING_SEPARATOR)[-1].strip() if heading else ""


def split_heading(text: str) -> tuple[str, str]:
    """(heading path, rest) of a chunk or section text; no path when the first line is not one."""
    first, _, rest = text.strip().partition("\n")
    if rest.strip() and looks_like_heading(first):
        return first, rest.strip()
    return "", text.strip()


def looks_like_heading(line: str) -> bool:
    """A chunk's first line: a "A > B" path, or one short title (no sentence punctuation). A
    title may have a colon («Доставка: зоны, цены и сроки»), but not before a figure: such a
    line states a fact ("Время работы: 10:00–20:00", "Адрес: ул. Абая, 52")."""
    if HEADING_SEPARATOR in line:
        return True
    if len(line) > 80 or line.endswith((".", "!", ";")) or _LIST_ITEM.match(line) \
            or line.startswith("|"):
        return False
    _, colon, rest = line.rstrip(":").partition(": ")
    return not colon or not _DIGIT.search(rest)


def sections(text: str) -> list[Section]:
    found: list[Section] = []
    path: list[tuple[int, str]] = []
    lines: list[str] = []

    def close() -> None:
        if any(line.strip() for line in lines):
            found.append(Section(tuple(title for _, title in path), tuple(_trim(lines))))
        lines.clear()

    for raw in text.replace("\r\n", "\n").split("\n"):
        heading = _HEADING.match(raw.rstrip())
        if heading:
            close()
            level = len(heading.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level]
            path.append((level, heading.group(2).strip()))
        else:
            lines.append(raw.rstrip())
    close()
    return found


def _trim(lines: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(lines) if line.strip())
    end = max(i for i, line in enumerate(lines) if line.strip())
    return lines[start : end + 1]


def section_units(lines: tuple[str, ...] | list[str]) -> list[str]:
    """One section's lines as units: table rows, list items, paragraph pieces."""
    units: list[str] = []
    lead_in = ""
    for block in _blocks(list(lines)):
        is_list = bool(_LIST_ITEM.match(block[0]))
        if lead_in and not is_list:
            units.append(lead_in)  # it introduced something other than a list: a unit itself
            lead_in = ""
        if block[0].lstrip().startswith("|"):
            units.extend(table_rows(block))
        elif is_list:
            units.extend(f"{lead_in} {item}" if lead_in else item for item in _list_items(block))
            lead_in = ""
        else:
            paragraph = " ".join(line.strip() for line in block)
            if len(paragraph) <= MAX_LEAD_IN_CHARS and \
                    (paragraph.endswith(":") or _BOLD_LABEL.fullmatch(paragraph)):
                lead_in = paragraph
            else:
                units.extend(_split_paragraph(paragraph))
    if lead_in:
        units.append(lead_in)
    return units


def _blocks(lines: list[str]) -> list[list[str]]:
    """Runs of lines of one kind: a table, a list, a paragraph (blank lines end each)."""
    blocks: list[list[str]] = []
    current: list[str] = []
    kind = ""
    for line in lines:
        if not line.strip():
            if current:
                blocks.append(current)
            current, kind = [], ""
            continue
        stripped = line.lstrip()
        line_kind = "table" if stripped.startswith("|") else \
            "list" if _LIST_ITEM.match(line) else ""
        continues_list = kind == "list" and not line_kind and line[:1].isspace()
        if current and line_kind != kind and not continues_list:
            blocks.append(current)
            current = []
        if not continues_list:
            kind = line_kind
        current.append(line)
    if current:
        blocks.append(current)
    return blocks


def table_cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def table_rows(block: list[str]) -> list[str]:
    """Each data row as "first cell — column: value; column: value" (names from the header)."""
    rows = [line for line in block if not _TABLE_RULE.match(line.strip())]
    if len(rows) < 2:
        return [" ".join(table_cells(row)) for row in rows]
    header = table_cells(rows[0])
    rendered = []
    for row in rows[1:]:
        cells = table_cells(row)
        named = [f"{name}: {value}" if name else value
                 for name, value in zip(header[1:], cells[1:], strict=False) if value]
        rendered.append(f"{cells[0]} — {'; '.join(named)}" if named else cells[0])
    return rendered


def _list_items(block: list[str]) -> list[str]:
    items: list[str] = []
    for line in block:
        if _LIST_ITEM.match(line):
            items.append(_LIST_ITEM.sub("", line, count=1).strip())
        elif items:
            items[-1] = f"{items[-1]} {line.strip()}"
    return items


def _split_paragraph(paragraph: str) -> list[str]:
    if len(paragraph) <= MAX_UNIT_CHARS:
        return [paragraph]
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        if pieces and len(pieces[-1]) + 1 + len(sentence) <= MAX_UNIT_CHARS:
            pieces[-1] = f"{pieces[-1]} {sentence}"
        else:
            pieces.append(sentence)
    return pieces
