"""Knowledge documents in other formats (HTML, PDF, DOCX) turned into the Markdown that
`core.chunking` cuts: headings become `#` lines, so they become the chunks' heading paths; list
items become `- ` lines and tables `| a | b |` rows, which the chunker reads as such.

The parsers (pypdf, python-docx; HTML through the standard library) are imported only when a
document of their format is converted, so commands that never see one do not pay for them."""

from documents.formats import (
    SUFFIXES,
    DocumentFormat,
    UnreadableDocument,
    format_for_media_type,
    format_for_path,
    sniff_format,
    to_markdown,
)

__all__ = [
    "SUFFIXES",
    "DocumentFormat",
    "UnreadableDocument",
    "format_for_media_type",
    "format_for_path",
    "sniff_format",
    "to_markdown",
]
