"""Admin knowledge endpoints and CLI handlers over the embedded store."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from core.knowledge import KnowledgeBase
from gateway import knowledge_cli
from gateway.admin import create_admin_app
from gateway.keys import KNOWLEDGE, SETTINGS, TENANTS
from gateway.settings import Settings
from gateway.supervised import KnowledgeHandle, Supervised
from tests.conftest import ADMIN_TOKEN

ClientFactory = Callable[[web.Application], Awaitable[TestClient]]
DOCS = "/admin/knowledge/{}/documents"


async def _never() -> KnowledgeBase:
    raise AssertionError("the test's knowledge base is open already")


class KnownSlugs:
    """Tenants that know three client slugs (the knowledge routes only ask that)."""

    async def client_by_slug(self, slug: str) -> object | None:
        return object() if slug in ("alpha", "beta", "a") else None


@pytest.fixture
async def client(aiohttp_client: ClientFactory, kb: KnowledgeBase) -> TestClient:
    app = web.Application()
    app[SETTINGS] = Settings(_env_file=None, admin_token=ADMIN_TOKEN)
    supervised: Supervised[KnowledgeBase] = Supervised("knowledge base", _never, KnowledgeBase.aclose)
    supervised.current = kb
    app[KNOWLEDGE] = KnowledgeHandle(supervised)
    app[TENANTS] = KnownSlugs()  # type: ignore[assignment]
    app.add_subapp("/admin", create_admin_app())
    return await aiohttp_client(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


async def test_unknown_clients_knowledge_is_refused(client: TestClient) -> None:
    put = await client.put(DOCS.format("nosuch") + "/prices", data="## Цены\nМаникюр — 1 ₸.")
    assert put.status == 404 and (await put.json())["error"] == "unknown_client"
    listing = await client.get(DOCS.format("nosuch"))
    assert listing.status == 404


async def test_document_lifecycle_over_http(client: TestClient) -> None:
    put = await client.put(
        DOCS.format("alpha") + "/prices",
        json={"content": "## Маникюр\nМаникюр — 4 000 ₸ (Альфа).", "knowledge_tag": "center"},
    )
    assert put.status == 200
    assert (await put.json())["added"] == 1
    raw = await client.put(DOCS.format("beta") + "/prices", data="## Маникюр\nМаникюр — 6 500 ₸.")
    assert raw.status == 200
    again = await client.put(DOCS.format("beta") + "/prices", data="## Маникюр\nМаникюр — 6 500 ₸.")
    assert (await again.json())["changed"] is False

    listing = await (await client.get(DOCS.format("alpha"))).json()
    assert [(d["doc_name"], d["chunks"], d["knowledge_tag"]) for d in listing["documents"]] == [
        ("prices", 1, "center")
    ]
    found = await (await client.get("/admin/knowledge/beta/search", params={"q": "маникюр"})).json()
    assert [p["content"] for p in found["passages"]] == ["Маникюр\nМаникюр — 6 500 ₸."]
    assert found["passages"][0]["doc_name"] == "prices"

    assert (await client.delete(DOCS.format("alpha") + "/prices")).status == 200
    assert (await client.delete(DOCS.format("alpha") + "/prices")).status == 404
    assert (await (await client.get(DOCS.format("alpha"))).json())["documents"] == []
    assert len((await (await client.get(DOCS.format("beta"))).json())["documents"]) == 1


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("put", DOCS.format("a") + "/d", {"data": "{oops", "headers": {"Content-Type": "application/json"}}),
        ("put", DOCS.format("a") + "/d", {"json": {"text": "no content key"}}),
        ("put", DOCS.format("a") + "/d", {"data": "   "}),
        ("get", "/admin/knowledge/a/search", {}),
        ("get", "/admin/knowledge/a/search", {"params": {"q": "x", "limit": "500"}}),
    ],
)
async def test_bad_requests_get_json_errors(
    client: TestClient, method: str, path: str, kwargs: dict
) -> None:
    response = await getattr(client, method)(path, **kwargs)
    assert response.status == 400
    body = await response.json()
    assert body["success"] is False and body["error"] == "bad_request"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    knowledge_cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["knowledge", *argv])


async def test_cli_ingests_folders_lists_searches_and_deletes(
    kb: KnowledgeBase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "docs"
    (folder / "faq").mkdir(parents=True)
    (folder / "prices.md").write_text("## Маникюр\nМаникюр — 4 000 ₸.", encoding="utf-8")
    (folder / "faq" / "hours.txt").write_text("Работаем с 9:00 до 21:00.", encoding="utf-8")
    (folder / "image.png").write_bytes(b"\x89PNG")

    assert await knowledge_cli.run(parse("ingest", "--client", "demo", str(folder), "--json"), kb) == 0
    out, err = capsys.readouterr()
    assert "[2/2]" in err
    assert [d["doc_name"] for d in json.loads(out)["documents"]] == ["faq/hours", "prices"]

    assert await knowledge_cli.run(parse("list", "--client", "demo", "--json"), kb) == 0
    listed = json.loads(capsys.readouterr().out)["documents"]
    assert {d["doc_name"] for d in listed} == {"faq/hours", "prices"}

    args = parse("search", "--client", "demo", "--limit", "1", "--json", "до", "скольки", "работаете")
    assert await knowledge_cli.run(args, kb) == 0
    passages = json.loads(capsys.readouterr().out)["passages"]
    assert len(passages) == 1 and "21:00" in passages[0]["content"]
    # a question asking two things: after the one ranked passage, the other part's own
    args = parse("search", "--client", "demo", "--limit", "1", "сколько стоит маникюр и до",
                 "скольки работаете?")
    assert await knowledge_cli.run(args, kb) == 0
    printed = capsys.readouterr().out
    assert printed.count("[document]") == 2 and printed.count("(for the part «") == 1

    assert await knowledge_cli.run(parse("delete", "--client", "demo", "prices"), kb) == 0
    assert "deleted prices: 1 chunks" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no document"):
        await knowledge_cli.run(parse("delete", "--client", "demo", "prices"), kb)
    with pytest.raises(ValueError, match="no such file"):
        knowledge_cli.knowledge_files([tmp_path / "missing.md"])
