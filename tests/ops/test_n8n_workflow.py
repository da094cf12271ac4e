"""The n8n Knowledge Sync export (`deploy/n8n/knowledge-sync.json`): it parses, its nodes run
schedule → sources → read → PUT, the PUT is the documented knowledge endpoint with the admin
token from a Header Auth credential, and what the workflow would send (its expressions
resolved as n8n would) is accepted by the real endpoint and then found by search."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from gateway.app import create_app
from gateway.routes.knowledge import DOCUMENT_PATH
from tests.conftest import ADMIN_TOKEN
from tests.factories import make_client
from tests.whatsapp.conftest import started

EXPORT = Path(__file__).resolve().parents[2] / "deploy" / "n8n" / "knowledge-sync.json"
GOOGLE_DOC = "Прайс салона\n\nПедикюр с покрытием стоит 12 000 тенге.\nСтрижка горячими ножницами: 7 000 тенге.\n"
EXPRESSION = re.compile(r"\{\{\s*(.+?)\s*\}\}")


def workflow() -> dict[str, Any]:
    return json.loads(EXPORT.read_text("utf-8"))


def node(kind: str, document: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return [n for n in document["nodes"] if n["type"] == f"n8n-nodes-base.{kind}"][index]


def resolve(value: str, item: dict[str, Any], source: dict[str, Any]) -> str:
    """An n8n parameter as n8n evaluates it, for the two forms this workflow uses: the current
    item (`$json.x`) and the matching item of the Sources node (`$('Sources').item.json.x`)."""
    if not value.startswith("="):
        return value

    def one(match: re.Match[str]) -> str:
        expression = match.group(1)
        if found := re.fullmatch(r"\$json\.(\w+)", expression):
            return str(item[found.group(1)])
        if found := re.fullmatch(r"\$\('Sources'\)\.item\.json\.(\w+)", expression):
            return str(source[found.group(1)])
        raise AssertionError(f"an expression this test does not know: {expression}")
    return EXPRESSION.sub(one, value[1:])


def test_the_export_is_a_schedule_reading_sources_and_putting_them() -> None:
    document = workflow()
    names = {n["name"]: n for n in document["nodes"]}
    chain, current = [], "Every hour"
    while current:
        chain.append(names[current]["type"].removeprefix("n8n-nodes-base."))
        targets = document["connections"].get(current, {}).get("main", [[]])[0]
        current = targets[0]["node"] if targets else None
    assert chain == ["scheduleTrigger", "code", "httpRequest", "httpRequest"]

    code = node("code", document)["parameters"]["jsCode"]
    for key in ("gateway", "slug", "doc_name", "source_url", "knowledge_tag"):
        assert f"{key}" in code
    assert "docs.google.com/document/d/" in code and "export?format=txt" in code

    read = node("httpRequest", document, 0)["parameters"]
    assert read.get("method", "GET") == "GET"
    assert read["options"]["response"]["response"] == {"responseFormat": "text",
                                                       "outputPropertyName": "data"}

    put = node("httpRequest", document, 1)
    params = put["parameters"]
    assert params["method"] == "PUT"
    template = resolve(params["url"], {}, {"gateway": "", "slug": "{client_slug}",
                                          "doc_name": "{doc_name}"})
    assert template == f"/admin{DOCUMENT_PATH}"  # the documented route, under /admin
    # the admin token comes from a Header Auth credential, never from the workflow itself
    assert params["authentication"] == "genericCredentialType"
    assert params["genericAuthType"] == "httpHeaderAuth" and "httpHeaderAuth" in put["credentials"]
    note = node("stickyNote", document)["parameters"]["content"]
    assert "Name `Authorization`" in note and "Bearer <ADMIN_TOKEN>" in note
    assert ADMIN_TOKEN not in EXPORT.read_text("utf-8") and "Bearer ey" not in note
    assert params["contentType"] == "raw" and params["rawContentType"].startswith("text/plain")


async def test_what_the_workflow_sends_is_stored_and_searchable(ops_settings, db, aiohttp_client,
                                                                aiohttp_server,
                                                                admin_headers) -> None:
    async def export(request: web.Request) -> web.Response:
        assert request.query["format"] == "txt"
        return web.Response(text=GOOGLE_DOC, content_type="text/plain", charset="utf-8")
    google = web.Application()
    google.router.add_get("/document/d/{id}/export", export)
    docs = await aiohttp_server(google)

    await make_client(db, "salon")
    gateway = await started(await aiohttp_client(create_app(ops_settings)))
    document = workflow()
    put = node("httpRequest", document, 1)["parameters"]
    read = node("httpRequest", document, 0)["parameters"]

    for tag in ("", "north"):
        source = {"gateway": str(gateway.make_url("")).rstrip("/"), "slug": "salon",
                  "doc_name": f"price{tag}", "knowledge_tag": tag,
                  "source_url": str(docs.make_url("/document/d/DOC123/export?format=txt"))}
        async with aiohttp.ClientSession() as n8n:
            async with n8n.get(resolve(read["url"], source, source)) as response:
                item = {"data": await response.text()}
            query = {p["name"]: resolve(p["value"], item, source)
                     for p in put["queryParameters"]["parameters"]}
            headers = {"Content-Type": put["rawContentType"],
                       "Authorization": f"Bearer {ADMIN_TOKEN}"}  # what the credential adds
            async with n8n.request(put["method"], resolve(put["url"], item, source),
                                   params=query, headers=headers,
                                   data=resolve(put["body"], item, source).encode()) as stored:
                assert stored.status == 200, await stored.text()
                assert (await stored.json())["chunks"] >= 1

    listed = await (await gateway.get("/admin/knowledge/salon/documents",
                                      headers=admin_headers)).json()
    tags = {d["doc_name"]: d.get("knowledge_tag") for d in listed["documents"]}
    assert tags == {"price": None, "pricenorth": "north"}
    found = await (await gateway.get("/admin/knowledge/salon/search",
                                     params={"q": "сколько стоит педикюр с покрытием"},
                                     headers=admin_headers)).json()
    assert "12 000" in found["passages"][0]["content"]
