"""Which format a document is (by file suffix, media type or its first bytes) and the one entry
point that turns its bytes into Markdown."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import PurePath


class DocumentFormat(StrEnum):
    MARKDOWN = "markdown"
    TEXT = "text"
    HTML = "html"
    PDF = "pdf"
    DOCX = "docx"


class UnreadableDocument(ValueError):
    """A corrupt, encrypted, empty or undecodable document, with a one-line reason."""


SUFFIXES: dict[str, DocumentFormat] = {
    ".md": DocumentFormat.MARKDOWN,
    ".markdown": DocumentFormat.MARKDOWN,
    ".txt": DocumentFormat.TEXT,
    ".html": DocumentFormat.HTML,
    ".htm": DocumentFormat.HTML,
    ".pdf": DocumentFormat.PDF,
    ".docx": DocumentFormat.DOCX,
}

MEDIA_TYPES: dict[str, DocumentFormat] = {
    "text/markdown": DocumentFormat.MARKDOWN,
    "text/x-markdown": DocumentFormat.MARKDOWN,
    "text/plain": DocumentFormat.TEXT,
    "text/html": DocumentFormat.HTML,
    "application/xhtml+xml": DocumentFormat.HTML,
    "application/pdf": DocumentFormat.PDF,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": DocumentFormat.DOCX,
}


def format_for_path(path: PurePath) -> DocumentFormat | None:
    return SUFFIXES.get(path.suffix.lower())


def format_for_media_type(media_type: str) -> DocumentFormat | None:
    return MEDIA_TYPES.get(media_type.strip().lower())


def sniff_format(data: bytes) -> DocumentFormat | None:
    """PDF and DOCX by their signatures (a DOCX is a ZIP with `word/document.xml`); None for
    anything else (text, or a format we do not read)."""
    if data.lstrip()[:5] == b"%PDF-":
        return DocumentFormat.PDF
    if data[:4] == b"PK\x03\x04" and b"word/" in data:
        return DocumentFormat.DOCX
    return None


def to_markdown(data: bytes, document_format: DocumentFormat) -> str:
    """The document as Markdown (text and Markdown pass through, decoded as UTF-8). Raises
    UnreadableDocument. Blocking (PDF parsing can take a while): run it off the event loop."""
    if document_format in (DocumentFormat.MARKDOWN, DocumentFormat.TEXT):
        return decode_text(data)
    if document_format == DocumentFormat.HTML:
        from documents.html import html_to_markdown

        markdown = html_to_markdown(decode_html(data))
    elif document_format == DocumentFormat.PDF:
        from documents.pdf import pdf_to_markdown

        markdown = pdf_to_markdown(data)
    else:
        from documents.docx import docx_to_markdown

        markdown = docx_to_markdown(data)
    if not markdown.strip():
        raise UnreadableDocument(f"no text found in this {document_format.upper()} document"
                                 + (" (a scan? it needs OCR first)"
                                    if document_format == DocumentFormat.PDF else ""))
    return markdown


def decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableDocument("cannot read it as UTF-8 text") from None


def decode_html(data: bytes) -> str:
    """UTF-8 unless the page declares another charset in its first bytes (`<meta charset>`)."""
    declared = re.search(rb"""charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", data[:4096])
    encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        return data.decode("utf-8-sig" if encoding.lower() in ("utf-8", "utf8") else encoding)
    except LookupError:
        raise UnreadableDocument(f"unknown charset {encoding!r}") from None
    except UnicodeDecodeError:
        raise UnreadableDocument(f"the page is not valid {encoding}") from None
