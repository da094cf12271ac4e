"""DOCX to Markdown with python-docx, in document order: paragraphs in a "Heading N" style (or
with an outline level, as custom heading styles have) become level-N headings, one level below
a "Title" when the document has one; list paragraphs become `- ` items; tables become
`| a | b |` rows (the first row names the columns)."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from documents.formats import UnreadableDocument

MAX_HEADING_LEVELS = 6
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def docx_to_markdown(data: bytes) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableDocument(f"not a readable DOCX ({type(exc).__name__}: {exc})") from None
    body = document.element.body
    blocks = [Paragraph(child, document) if child.tag.endswith("}p") else Table(child, document)
              for child in body.iterchildren() if child.tag.endswith(("}p", "}tbl"))]
    has_title = any(isinstance(b, Paragraph) and _style_name(b) == "title" for b in blocks)
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Table):
            out.extend(["", *_table(block), ""])
            continue
        text = _SPACE.sub(" ", block.text).strip()
        if not text:
            out.append("")
            continue
        level = _heading_level(block, shift=1 if has_title else 0)
        if level:
            out.extend(["", f"{'#' * level} {text}", ""])
        elif _is_list_item(block):
            out.append(f"- {text}")
        else:
            out.extend([text, ""])
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


def _style_name(paragraph: Any) -> str:
    style = paragraph.style
    return (style.name or "").strip().lower() if style is not None else ""


def _heading_level(paragraph: Any, *, shift: int) -> int:
    name = _style_name(paragraph)
    if name == "title":
        return 1
    if match := _HEADING_STYLE.match(name):
        return min(int(match.group(1)) + shift, MAX_HEADING_LEVELS)
    outline = _outline_level(paragraph)
    return min(outline + 1 + shift, MAX_HEADING_LEVELS) if outline is not None else 0


def _outline_level(paragraph: Any) -> int | None:
    """`w:outlineLvl` on the paragraph or its style chain (0 = top; 9 = body text)."""
    elements = [paragraph._p]
    style = paragraph.style
    while style is not None:
        elements.append(style.element)
        style = style.base_style
    for element in elements:
        values = element.xpath("./w:pPr/w:outlineLvl/@w:val")
        if values:
            level = int(values[0])
            return level if level < 9 else None
    return None


def _is_list_item(paragraph: Any) -> bool:
    if _style_name(paragraph).startswith("list"):
        return True
    elements = [paragraph._p]
    style = paragraph.style
    while style is not None:
        elements.append(style.element)
        style = style.base_style
    return any(element.xpath("./w:pPr/w:numPr") for element in elements)


def _table(table: Any) -> list[str]:
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        seen: list[Any] = []
        for cell in row.cells:  # a merged cell is repeated once per grid column it spans
            if any(cell._tc is other for other in seen):
                continue
            seen.append(cell._tc)
            cells.append(_SPACE.sub(" ", cell.text).strip().replace("|", "/"))
        if any(cells):
            rows.append(f"| {' | '.join(cells)} |")
            if len(rows) == 1:
                rows.append(f"|{'---|' * len(cells)}")
    return rows
