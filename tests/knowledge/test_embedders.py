"""Real HTTP clients against fake TEI and OpenAI servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ai.embeddings import (
    LocalE5Embedder,
    OpenAIEmbedder,
    TeiEmbedder,
    build_embedder,
    check_embedder,
)
from core.knowledge import KnowledgeBase
from core.knowledge_types import EmbeddingError
from gateway.settings import load_settings
from storage.vectors import EdgeVectorStore

DIM = 8
ServerFactory = Callable[..., Awaitable[TestServer]]


def fake_vector(text: str) -> list[float]:
    return [float((len(text) + i) % 5) + 1.0 for i in range(DIM)]


class FakeEmbeddingServer:
    """Counts requests; `mode` switches it to answer 500 or to hang (for timeouts)."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []
        self.mode = "ok"
        self.never = asyncio.Event()

    async def _misbehave(self) -> web.Response | None:
        if self.mode == "error":
            return web.Response(status=500, text="model crashed")
        if self.mode == "hang":
            await self.never.wait()
        if self.mode == "html":  # a proxy's error page with a 200
            return web.Response(text="<html>Bad gateway</html>", content_type="text/html")
        return None

    async def tei(self, request: web.Request) -> web.Response:
        inputs = (await request.json())["inputs"]
        self.requests.append(inputs)
        return await self._misbehave() or web.json_response([fake_vector(t) for t in inputs])

    async def openai(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body["input"])
        assert body["encoding_format"] == "float"
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(t)}
            for i, t in enumerate(body["input"])
        ]
        return await self._misbehave() or web.json_response({
            "object": "list", "data": data[::-1], "model": body["model"],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        })


@pytest.fixture
async def fake(aiohttp_server: ServerFactory) -> tuple[FakeEmbeddingServer, str]:
    fake = FakeEmbeddingServer()
    app = web.Application()
    app.router.add_post("/embed", fake.tei)
    app.router.add_post("/v1/embeddings", fake.openai)
    server = await aiohttp_server(app, host="127.0.0.1")
    yield fake, str(server.make_url("")).rstrip("/")
    fake.never.set()


def tei(url: str, **kwargs: object) -> TeiEmbedder:
    return TeiEmbedder(url, model="test-model", retry_wait=0.0, **kwargs)  # type: ignore[arg-type]


def openai_embedder(url: str, **kwargs: object) -> OpenAIEmbedder:
    return OpenAIEmbedder(base_url=url, api_key="k", model="test-model", **kwargs)  # type: ignore[arg-type]


async def test_tei_batches_requests_and_learns_the_dimension(fake) -> None:
    server, url = fake
    embedder = tei(url, batch_size=32)
    texts = [f"текст {i}" for i in range(70)]
    vectors = await embedder.embed_passages(texts)
    await embedder.aclose()
    assert len(server.requests) == 3
    assert [len(batch) for batch in server.requests] == [32, 32, 6]
    assert vectors == [fake_vector(t) for t in texts]
    assert embedder.dim == DIM and embedder.name == "tei-test-model-8"


async def test_openai_batches_keeps_order_and_checks_dimension(fake) -> None:
    server, url = fake
    embedder = openai_embedder(url, batch_size=10)
    texts = [f"text number {i}" for i in range(25)]
    vectors = await embedder.embed_queries(texts)
    await embedder.aclose()
    assert [len(batch) for batch in server.requests] == [10, 10, 5]
    assert vectors == [fake_vector(t) for t in texts]  # server answered in reverse order
    assert await check_embedder(openai_embedder(url)) == DIM


@pytest.mark.parametrize(("mode", "error", "attempts"), [
    ("error", "HTTP 500", 3),  # a server error is tried again, then reported
    ("html", "not JSON", 1),  # a proxy's page with a 200 is reported at once
])
async def test_tei_failures_are_clear_errors_retried_only_when_transient(
    fake, mode: str, error: str, attempts: int
) -> None:
    server, url = fake
    server.mode = mode
    embedder = tei(url, attempts=3)
    with pytest.raises(EmbeddingError, match=error):
        await embedder.embed_queries(["вопрос"])
    await embedder.aclose()
    assert len(server.requests) == attempts


async def test_startup_check_names_an_unreachable_embedder() -> None:
    embedder = tei("http://127.0.0.1:9", attempts=1)
    with pytest.raises(EmbeddingError, match="unreachable"):
        await check_embedder(embedder)
    await embedder.aclose()


@pytest.mark.parametrize("mode", ["error", "hang"])
@pytest.mark.parametrize("kind", ["tei", "openai"])
async def test_embedder_failures_become_rag_error_results(
    fake, tmp_path: Path, mode: str, kind: str
) -> None:
    server, url = fake
    embedder = (
        tei(url, timeout=0.3, attempts=2) if kind == "tei"
        else openai_embedder(url, timeout=0.3, attempts=2)
    )
    store = EdgeVectorStore(tmp_path, "c")
    await store.ensure_collection(DIM)
    kb = KnowledgeBase(embedder, store)
    await kb.ingest_document("demo", "doc", "Маникюр — 4 000 ₸")
    server.mode = mode
    result = await kb.search("demo", "сколько стоит маникюр?")
    await kb.aclose()
    assert not result.ok
    assert result.error_code == "rag_error"
    assert result.error


async def test_openai_client_error_is_not_retried(aiohttp_server: ServerFactory) -> None:
    calls = 0

    async def unauthorized(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.json_response({"error": {"message": "bad key"}}, status=401)

    app = web.Application()
    app.router.add_post("/v1/embeddings", unauthorized)
    server = await aiohttp_server(app, host="127.0.0.1")
    embedder = openai_embedder(str(server.make_url("")))
    with pytest.raises(EmbeddingError, match="OpenAI embeddings failed"):
        await embedder.embed_queries(["x"])
    await embedder.aclose()
    assert calls == 1


async def test_local_model_embeds_normalised_384_dim_vectors(e5: LocalE5Embedder) -> None:
    query, = await e5.embed_queries(["сколько стоит маникюр?"])
    price, hours = await e5.embed_passages(["Маникюр — 4 000 ₸", "Работаем с 9:00 до 21:00"])
    assert len(query) == 384 == e5.dim
    assert abs(sum(x * x for x in query) - 1.0) < 1e-3
    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731
    assert dot(query, price) > dot(query, hours)
    assert await e5.embed_passages([]) == []


def test_factory_picks_the_configured_provider() -> None:
    assert isinstance(build_embedder(load_settings(embeddings_provider="local").embeddings), LocalE5Embedder)
    tei_embedder = build_embedder(
        load_settings(embeddings_provider="tei", embeddings_url="http://127.0.0.1:8080").embeddings
    )
    assert isinstance(tei_embedder, TeiEmbedder) and tei_embedder.dim == 1024
    with pytest.raises(EmbeddingError, match="EMBEDDINGS_URL"):
        build_embedder(load_settings(embeddings_provider="tei").embeddings)
    openai_one = build_embedder(load_settings(
        embeddings_provider="openai", openai_base_url="http://127.0.0.1:1/v1"
    ).embeddings)
    assert isinstance(openai_one, OpenAIEmbedder)
    assert openai_one.name == "openai-text-embedding-3-small-1536"
