"""HTML to Markdown with the standard library's parser: `h1`-`h6` become `#`-`######` headings,
`li` list items, table rows `| a | b |` (the first row names the columns), every other block
(`p`, `div`, `br`, …) its own paragraph; scripts, styles, navigation and the like are dropped."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIPPED = {"script", "style", "noscript", "template", "svg", "head", "nav", "iframe", "object"}
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_BLOCKS = {"p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote",
           "pre", "ul", "ol", "dl", "dt", "dd", "figure", "figcaption", "address", "form",
           "fieldset", "details", "summary", "hr", "table", "caption"}
_VOID = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source",
         "track", "wbr", "param"}
_SPACE = re.compile(r"\s+")


def html_to_markdown(html: str) -> str:
    converter = _Converter()
    converter.feed(html)
    converter.close()
    return converter.markdown()


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._text: list[str] = []
        self._skip_depth = 0
        self._heading = 0
        self._in_item = False
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._table_rows = 0

    # --- the parser's callbacks ------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_depth or tag in _SKIPPED:
            if tag not in _VOID:
                self._skip_depth += 1
            return
        if tag in _HEADINGS:
            self._flush()
            self._heading = _HEADINGS[tag]
        elif tag == "li":
            self._flush()
            self._in_item = True
        elif tag == "table":
            self._flush()
            self._blank()
            self._table_rows = 0
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br":
            self._line_break()
        elif tag in _BLOCKS:
            self._flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and not self._skip_depth:
            self._line_break()

    def handle_endtag(self, tag: str) -> None:
        if self._skip_depth:
            if tag not in _VOID:
                self._skip_depth -= 1
            return
        if tag in _HEADINGS and self._heading:
            title = _clean("".join(self._text))
            self._text.clear()
            if title:
                self._out.extend(["", f"{'#' * self._heading} {title}", ""])
            self._heading = 0
        elif tag == "li":
            self._flush()
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(_clean("".join(self._cell)).replace("|", "/"))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._end_row()
        elif tag in _BLOCKS:
            self._flush()
            self._blank()

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        (self._cell if self._cell is not None else self._text).append(data)

    # --- building the Markdown -------------------------------------------------------------

    def _line_break(self) -> None:
        if self._cell is not None:
            self._cell.append(" ")
        elif self._heading or self._in_item:
            self._text.append(" ")
        else:
            self._flush(paragraph_end=False)

    def _flush(self, *, paragraph_end: bool = True) -> None:
        text = _clean("".join(self._text))
        self._text.clear()
        was_item, self._in_item = self._in_item, False
        if not text:
            return
        self._out.append(f"- {text}" if was_item else text)
        if paragraph_end and not was_item:
            self._blank()

    def _blank(self) -> None:
        """End the paragraph (or list, or table) before: a blank line, once."""
        if self._out and self._out[-1]:
            self._out.append("")

    def _end_row(self) -> None:
        assert self._row is not None
        cells, self._row = self._row, None
        if not any(cells):
            return
        self._out.append(f"| {' | '.join(cells)} |")
        self._table_rows += 1
        if self._table_rows == 1:
            self._out.append(f"|{'---|' * len(cells)}")

    def markdown(self) -> str:
        self._flush()
        text = "\n".join(self._out)
        return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _clean(text: str) -> str:
    return _SPACE.sub(" ", text).strip()
