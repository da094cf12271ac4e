"""Small PDF, DOCX and HTML files made in the test: a PDF written by hand (Helvetica lines at
given sizes; bookmarks added with pypdf), a DOCX written with python-docx."""

from __future__ import annotations

import io

import docx
from pypdf import PdfReader, PdfWriter
from pypdf.generic import Fit

Line = tuple[float, float, str]  # font size, baseline y (from the bottom of a 792pt page), text


def pdf_file(pages: list[list[Line]], bookmarks: list[tuple[str, int, int]] = ()) -> bytes:
    """A PDF of `pages`; `bookmarks` as (title, page index, depth from 0), in outline order."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
               b"/Encoding /WinAnsiEncoding >>")
    pages_id = len(objects) + 1 + 2 * len(pages)
    kids = []
    for lines in pages:
        shown = [f"BT /F1 {size} Tf 72 {y} Td ({_escaped(text)}) Tj ET" for size, y, text in lines]
        stream = "\n".join(shown).encode("cp1252")
        content = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                        b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, content, font)))
    add(b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % kid for kid in kids), len(kids)))
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, catalog, xref)
    return bytes(out) if not bookmarks else _with_bookmarks(bytes(out), bookmarks)


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _with_bookmarks(pdf: bytes, bookmarks: list[tuple[str, int, int]]) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    parents: list = []
    for title, page, depth in bookmarks:
        del parents[depth:]
        parent = parents[-1] if parents else None
        parents.append(writer.add_outline_item(title, page, parent=parent, fit=Fit.fit()))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_file() -> bytes:
    """A salon handbook: a title, headings at two levels, a list, a table and a paragraph."""
    document = docx.Document()
    document.add_heading("Справочник салона", level=0)
    document.add_paragraph("Салон «Лотос» работает с 2015 года.")
    document.add_heading("Цены", level=1)
    document.add_paragraph("Популярные услуги:")
    document.add_paragraph("Маникюр с покрытием — 4 500 ₸", style="List Bullet")
    document.add_paragraph("Педикюр — 7 000 ₸", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "Услуга", (0, 1): "Цена", (1, 0): "Коррекция бровей",
                             (1, 1): "2 500 ₸"}.items():
        table.cell(row, col).text = text
    document.add_heading("Парковка", level=2)
    document.add_paragraph("Бесплатная парковка во дворе, въезд с улицы Панфилова.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


HTML_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Салон</title><style>h1 { color: red }</style></head>
<body><nav><a href="/">Главная</a> | <a href="/prices">Цены</a></nav>
<h1>Салон «Лотос»</h1>
<p>Мы работаем <b>ежедневно</b> с 10:00 до 21:00.<br>Запись по телефону.</p>
<h2>Цены</h2>
<ul><li>Стрижка женская — 6 000 ₸</li><li>Окрашивание — от 15 000 ₸</li></ul>
<h2>Как добраться</h2>
<div>Мы в ТЦ «Меге», 2 этаж, рядом с эскалатором.</div>
<script>track("visit")</script>
</body></html>"""

PDF_PAGES: list[list[Line]] = [
    [(20, 740, "Lotus Salon Guide"),
     (14, 700, "Opening hours"),
     (11, 680, "We are open every day from 10:00 to 21:00,"),
     (11, 666, "public holidays included."),
     (14, 630, "Cancellation policy"),
     (11, 610, "Cancel at least 3 hours before the visit to keep your deposit.")],
    [(14, 740, "Gift certificates"),
     (11, 720, "Gift certificates are valid for 6 months from purchase.")],
]
