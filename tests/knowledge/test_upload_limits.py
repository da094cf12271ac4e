"""A knowledge file may be larger than an ordinary request: the document upload is bounded by
KNOWLEDGE_MAX_BYTES, every other body by MAX_BODY_BYTES, whether the length is declared or the
body comes chunked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from core.knowledge import KnowledgeBase
from gateway.admin import create_admin_app
from gateway.keys import KNOWLEDGE, SETTINGS, TENANTS
from gateway.middlewares import MIDDLEWARES
from gateway.settings import Settings
from gateway.supervised import KnowledgeHandle, Supervised
from tests.conftest import ADMIN_TOKEN
from tests.knowledge.test_routes_and_cli import DOCS, ClientFactory, KnownSlugs, _never

BODY_LIMIT, FILE_LIMIT = 2048, 8192


@pytest.fixture
async def client(aiohttp_client: ClientFactory, kb: KnowledgeBase) -> TestClient:
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=BODY_LIMIT)
    app[SETTINGS] = Settings(_env_file=None, admin_token=ADMIN_TOKEN, max_body_bytes=BODY_LIMIT,
                             knowledge_max_bytes=FILE_LIMIT)
    supervised: Supervised[KnowledgeBase] = Supervised("knowledge base", _never, KnowledgeBase.aclose)
    supervised.current = kb
    app[KNOWLEDGE] = KnowledgeHandle(supervised)
    app[TENANTS] = KnownSlugs()  # type: ignore[assignment]
    app.add_subapp("/admin", create_admin_app())
    return await aiohttp_client(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


def _document(size: int) -> bytes:
    line = "Маникюр с покрытием стоит 9 800 ₸ у топ-мастера.\n".encode()
    return (b"## Prices\n" + line * (size // len(line) + 1))[:size].rsplit(b"\n", 1)[0]


async def _chunked(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 1000):
        yield body[start:start + 1000]


async def test_a_document_larger_than_a_request_body_is_taken(client: TestClient) -> None:
    body = _document(6000)
    assert len(body) > BODY_LIMIT
    put = await client.put(DOCS.format("alpha") + "/prices", data=body,
                           headers={"Content-Type": "text/markdown"})
    assert put.status == 200, await put.text()
    chunked = await client.put(DOCS.format("alpha") + "/prices-2", data=_chunked(body),
                               headers={"Content-Type": "text/markdown"})
    assert chunked.status == 200, await chunked.text()


async def test_a_document_over_its_own_limit_is_refused(client: TestClient) -> None:
    body = _document(FILE_LIMIT + 500)
    for data in (body, _chunked(body)):
        put = await client.put(DOCS.format("alpha") + "/huge", data=data,
                               headers={"Content-Type": "text/markdown"})
        assert put.status == 413 and (await put.json())["error"] == "payload_too_large"
    listing = await (await client.get(DOCS.format("alpha"))).json()
    assert listing["documents"] == []


async def test_other_requests_keep_the_ordinary_limit(client: TestClient) -> None:
    search = await client.get("/admin/knowledge/alpha/search", params={"q": "маникюр"},
                              data=b"x" * (BODY_LIMIT + 1))
    assert search.status == 413
