"""HTML, PDF and DOCX knowledge: headings become chunk paths, facts are found by search, through
the CLI and the admin endpoint; a corrupt or unsupported file gets a clear error."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from core.chunking import chunk_document
from core.knowledge import KnowledgeBase
from documents import DocumentFormat, UnreadableDocument, sniff_format, to_markdown
from gateway import knowledge_cli
from tests.knowledge.document_files import HTML_PAGE, PDF_PAGES, docx_file, pdf_file
from tests.knowledge.test_routes_and_cli import DOCS
from tests.knowledge.test_routes_and_cli import client as client  # the admin app fixture

ClientFactory = Callable[[web.Application], Awaitable[TestClient]]
DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def paths(markdown: str) -> dict[str, str]:
    """Each chunk's unit → its heading path."""
    return {chunk.unit: chunk.text.partition("\n")[0] for chunk in chunk_document(markdown)}


def test_html_headings_lists_and_paragraphs() -> None:
    found = paths(to_markdown(HTML_PAGE.encode(), DocumentFormat.HTML))
    assert found == {
        "Мы работаем ежедневно с 10:00 до 21:00. Запись по телефону.": "Салон «Лотос»",
        "Стрижка женская — 6 000 ₸": "Салон «Лотос» > Цены",
        "Окрашивание — от 15 000 ₸": "Салон «Лотос» > Цены",
        "Мы в ТЦ «Меге», 2 этаж, рядом с эскалатором.": "Салон «Лотос» > Как добраться",
    }  # the menu (nav), the style and the script are not knowledge


def test_html_in_a_declared_charset_and_tables() -> None:
    page = ('<meta charset="windows-1251"><h3>Прайс</h3><table><tr><th>Услуга</th><th>Цена</th>'
            '</tr><tr><td>Маникюр</td><td>4 000 ₸</td></tr></table>').replace("₸", "тг")
    found = paths(to_markdown(page.encode("cp1251"), DocumentFormat.HTML))
    assert found == {"Маникюр — Цена: 4 000 тг": "Прайс"}


def test_pdf_headings_from_font_sizes_without_an_outline() -> None:
    found = paths(to_markdown(pdf_file(PDF_PAGES), DocumentFormat.PDF))
    assert found == {
        "We are open every day from 10:00 to 21:00, public holidays included.":
            "Lotus Salon Guide > Opening hours",
        "Cancel at least 3 hours before the visit to keep your deposit.":
            "Lotus Salon Guide > Cancellation policy",
        "Gift certificates are valid for 6 months from purchase.":
            "Lotus Salon Guide > Gift certificates",
    }


def test_pdf_headings_from_its_bookmarks() -> None:
    # The outline says "Cancellation policy" is inside "Opening hours", and names a section
    # ("Deposits") that no line carries: it starts where its page starts.
    pages = [*PDF_PAGES, [(11, 740, "A deposit of 2 000 tenge secures the booking.")]]
    pdf = pdf_file(pages, [("Opening hours", 0, 0), ("Cancellation policy", 0, 1),
                           ("Gift certificates", 1, 0), ("Deposits", 2, 0)])
    found = paths(to_markdown(pdf, DocumentFormat.PDF))
    assert found["Cancel at least 3 hours before the visit to keep your deposit."] == \
        "Opening hours > Cancellation policy"
    assert found["Gift certificates are valid for 6 months from purchase."] == "Gift certificates"
    assert found["A deposit of 2 000 tenge secures the booking."] == "Deposits"


def test_docx_heading_styles_lists_and_tables() -> None:
    found = paths(to_markdown(docx_file(), DocumentFormat.DOCX))
    assert found == {
        "Салон «Лотос» работает с 2015 года.": "Справочник салона",
        "Популярные услуги: Маникюр с покрытием — 4 500 ₸": "Справочник салона > Цены",
        "Популярные услуги: Педикюр — 7 000 ₸": "Справочник салона > Цены",
        "Коррекция бровей — Цена: 2 500 ₸": "Справочник салона > Цены",
        "Бесплатная парковка во дворе, въезд с улицы Панфилова.":
            "Справочник салона > Цены > Парковка",
    }


@pytest.mark.parametrize(
    ("data", "document_format", "reason"),
    [
        (b"%PDF-1.4\nthis is not really a PDF", DocumentFormat.PDF, "not a readable PDF"),
        (pdf_file([[]]), DocumentFormat.PDF, "no text found in this PDF document (a scan?"),
        (b"PK\x03\x04 truncated zip", DocumentFormat.DOCX, "not a readable DOCX"),
        (b"plain words", DocumentFormat.DOCX, "not a readable DOCX"),
        (b"\xff\xfe\x00bad", DocumentFormat.TEXT, "cannot read it as UTF-8 text"),
        (b"<p>  </p>", DocumentFormat.HTML, "no text found in this HTML document"),
    ],
)
def test_unreadable_documents_say_why(data: bytes, document_format: DocumentFormat,
                                      reason: str) -> None:
    with pytest.raises(UnreadableDocument, match=reason.replace("(", r"\(").replace("?", r"\?")):
        to_markdown(data, document_format)


def test_formats_are_recognised_by_their_first_bytes() -> None:
    assert sniff_format(pdf_file(PDF_PAGES)) == DocumentFormat.PDF
    assert sniff_format(docx_file()) == DocumentFormat.DOCX
    assert sniff_format(HTML_PAGE.encode()) is None


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    knowledge_cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["knowledge", *argv])


async def test_cli_ingests_pdf_docx_and_html(
    kb: KnowledgeBase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "guide.pdf").write_bytes(pdf_file(PDF_PAGES))
    (tmp_path / "handbook.docx").write_bytes(docx_file())
    (tmp_path / "site.html").write_text(HTML_PAGE, encoding="utf-8")
    assert await knowledge_cli.run(parse("ingest", "--client", "demo", str(tmp_path), "--json"),
                                   kb) == 0
    reported = json.loads(capsys.readouterr().out)["documents"]
    assert [(d["doc_name"], d["chunks"]) for d in reported] == [
        ("guide", 3), ("handbook", 5), ("site", 4)]

    for question, doc_name, path, fact in [
        ("how long is a gift certificate valid", "guide", "Lotus Salon Guide > Gift certificates",
         "Gift certificates are valid for 6 months"),
        ("где парковаться", "handbook", "Справочник салона > Цены > Парковка",
         "Бесплатная парковка во дворе"),
        ("сколько стоит окрашивание", "site", "Салон «Лотос» > Цены", "Окрашивание — от 15 000 ₸"),
    ]:
        result = await kb.search("demo", question, limit=1)
        assert result.ok and result.value, result.error
        passage = result.value[0]  # the section the matching chunk belongs to, under its path
        assert passage.doc_name == doc_name
        assert passage.content.startswith(f"{path}\n") and fact in passage.content


async def test_cli_refuses_corrupt_unsupported_and_clashing_files(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\n\x00\x01 nothing else")
    with pytest.raises(ValueError, match=r"broken\.pdf: not a readable PDF"):
        await knowledge_cli.run(parse("ingest", "--client", "demo", str(tmp_path)), kb)
    assert await kb.list_documents("demo") == []  # nothing stored

    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(ValueError, match=r"old\.doc: not a supported document \(\.md, "):
        knowledge_cli.knowledge_files([tmp_path / "old.doc"])

    (tmp_path / "prices.md").write_text("Маникюр — 4 000 ₸.", encoding="utf-8")
    (tmp_path / "prices.html").write_text("<p>Маникюр — 4 000 ₸.</p>", encoding="utf-8")
    with pytest.raises(ValueError, match="would both be document 'prices'"):
        knowledge_cli.knowledge_files([tmp_path])


async def test_admin_endpoint_takes_files_by_content_type(client: TestClient) -> None:
    uploads = [
        ("guide", pdf_file(PDF_PAGES), "application/pdf"),
        ("handbook", docx_file(), "application/octet-stream"),  # recognised by its bytes
        ("site", HTML_PAGE.encode(), "text/html; charset=utf-8"),
    ]
    for doc_name, body, media_type in uploads:
        put = await client.put(DOCS.format("alpha") + f"/{doc_name}", data=body,
                               headers={"Content-Type": media_type}, params={"tag": "center"})
        assert put.status == 200, await put.text()
    listing = await (await client.get(DOCS.format("alpha"))).json()
    assert sorted((d["doc_name"], d["chunks"], d["knowledge_tag"]) for d in listing["documents"]) \
        == [("guide", 3, "center"), ("handbook", 5, "center"), ("site", 4, "center")]
    found = await (await client.get("/admin/knowledge/alpha/search",
                                    params={"q": "how late can I cancel my visit",
                                            "limit": "1"})).json()
    assert found["passages"][0]["content"].startswith(
        "Lotus Salon Guide > Cancellation policy\nCancel at least 3 hours")


@pytest.mark.parametrize(
    ("body", "media_type", "message"),
    [
        (b"%PDF-1.4\ngarbage", "application/pdf", "not a readable PDF"),
        (b"PK\x03\x04word/ cut short", DOCX_MEDIA_TYPE, "not a readable DOCX"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png",
         "the document must be UTF-8 text, or an HTML, PDF or DOCX file"),
    ],
)
async def test_admin_endpoint_refuses_unreadable_files(
    client: TestClient, body: bytes, media_type: str, message: str
) -> None:
    put = await client.put(DOCS.format("alpha") + "/broken", data=body,
                           headers={"Content-Type": media_type})
    assert put.status == 400
    answer = await put.json()
    assert answer["error"] == "bad_request" and message in answer["message"]
    assert (await (await client.get(DOCS.format("alpha"))).json())["documents"] == []
