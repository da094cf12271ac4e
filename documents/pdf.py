"""PDF to Markdown with pypdf. The text is read line by line with its position and font size;
headings come from the document's outline (bookmarks) when it has one: each bookmark marks the
line with its title (or, when no line has it, starts its section at the top of its page), at the
bookmark's depth. Without an outline, short lines set in a larger font than the body text are
headings, the largest size level 1. A PDF with neither gets no headings (its chunks have no
path). Paragraphs end where the gap between lines is wider than usual and at page ends."""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from documents.formats import UnreadableDocument

MAX_HEADING_CHARS = 120
HEADING_SIZE_RATIO = 1.15  # a font this much larger than the body's marks a heading
MAX_HEADING_LEVELS = 6
PARAGRAPH_GAP = 1.6  # a gap wider than this many font sizes between lines starts a paragraph
_SPACE = re.compile(r"\s+")

# pypdf logs every repair of a sloppy file as a warning; a file it cannot read raises, and that
# is reported (one line) by whoever asked for the conversion.
logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass
class _Line:
    page: int
    y: float
    size: float
    text: str
    level: int = 0  # a heading's level; 0 for body text


@dataclass(frozen=True)
class _Bookmark:
    level: int
    title: str
    page: int
    top: float | None  # where on the page it points, when it says


def pdf_to_markdown(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument("the PDF is password-protected")
        lines = [line for number, page in enumerate(reader.pages) for line in _lines(number, page)]
        bookmarks = _bookmarks(reader)
    except UnreadableDocument:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise UnreadableDocument(f"not a readable PDF ({type(exc).__name__}: {exc})") from None
    if bookmarks:
        lines = _mark_bookmarks(lines, bookmarks)
    else:
        _mark_large_fonts(lines)
    return _markdown(lines)


def _lines(number: int, page: Any) -> list[_Line]:
    """The page's text lines in reading order, each with its baseline and largest font size."""
    lines: list[_Line] = []
    current: _Line | None = None

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        nonlocal current
        y = tm[5] * cm[3] + cm[5]
        scaled = abs(size * (tm[3] or tm[0]) * (cm[3] or cm[0]))
        for index, piece in enumerate(text.split("\n")):
            if index:
                current = None
            if not piece.strip():
                continue
            if current is not None and abs(current.y - y) > 0.5 * max(current.size, 1.0):
                current = None
            if current is None:
                current = _Line(number, y, scaled, "")
                lines.append(current)
            current.text += piece
            current.size = max(current.size, scaled)

    page.extract_text(visitor_text=visit)
    for line in lines:
        line.text = _SPACE.sub(" ", line.text).strip()
    return [line for line in lines if line.text]


def _bookmarks(reader: Any) -> list[_Bookmark]:
    found: list[_Bookmark] = []

    def walk(items: list[Any], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            title = _SPACE.sub(" ", str(item.title or "")).strip()
            page = reader.get_destination_page_number(item)
            top = getattr(item, "top", None)
            if title and page is not None and page >= 0:
                found.append(_Bookmark(min(level, MAX_HEADING_LEVELS), title, page,
                                       float(top) if top is not None else None))

    walk(reader.outline, 1)
    return found


def _mark_bookmarks(lines: list[_Line], bookmarks: list[_Bookmark]) -> list[_Line]:
    """Each bookmark, in order, marks the first line from the last one on that carries its title,
    or becomes a heading line of its own where it points (its page, below its top if given)."""
    result = list(lines)
    cursor = 0
    for mark in bookmarks:
        wanted = mark.title.casefold()
        start = next((i for i in range(cursor, len(result)) if _at_or_after(result[i], mark)),
                     len(result))
        found = next((i for i in range(start, len(result))
                      if result[i].page == mark.page and result[i].text.casefold() == wanted
                      and not result[i].level), None)
        if found is None:
            result.insert(start, _Line(mark.page, 0.0, 0.0, mark.title, mark.level))
            cursor = start + 1
        else:
            result[found].level = mark.level
            cursor = found + 1
    return result


def _at_or_after(line: _Line, mark: _Bookmark) -> bool:
    if line.page != mark.page:
        return line.page > mark.page
    return mark.top is None or line.y <= mark.top + 1.0


def _mark_large_fonts(lines: list[_Line]) -> None:
    body = _body_size(lines)
    if body is None:
        return
    larger = sorted({round(line.size, 1) for line in lines
                     if line.size >= body * HEADING_SIZE_RATIO
                     and len(line.text) <= MAX_HEADING_CHARS}, reverse=True)
    levels = {size: min(rank, MAX_HEADING_LEVELS) for rank, size in enumerate(larger, 1)}
    for line in lines:
        if len(line.text) <= MAX_HEADING_CHARS:
            line.level = levels.get(round(line.size, 1), 0)


def _body_size(lines: list[_Line]) -> float | None:
    """The font size most of the text is set in."""
    sizes: Counter[float] = Counter()
    for line in lines:
        sizes[round(line.size, 1)] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else None


def _markdown(lines: list[_Line]) -> str:
    out: list[str] = []
    previous: _Line | None = None
    for line in lines:
        if line.level:
            out.extend(["", f"{'#' * line.level} {line.text}", ""])
            previous = None
            continue
        if previous is not None and (line.page != previous.page or
                                     previous.y - line.y > PARAGRAPH_GAP * previous.size):
            out.append("")
        out.append(line.text)
        previous = line
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"
