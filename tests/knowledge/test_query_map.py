"""The learned query map (`core.query_map`): its fit on a synthetic problem, where a search applies
it (the query, not the turn's vector the decision layer reads), its fitting command, and the map
the bundled model ships (`ai/e5_query_map.npy`, the fit of the current dev split)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from ai.embedding_cache import CachedEmbedder
from ai.embeddings import LocalE5Embedder
from ai.local_e5 import E5_QUERY_MAP
from core.knowledge import KnowledgeBase
from core.knowledge_types import RetrievalMode, ScoreThresholds
from core.query_map import FitGroup, FitSettings, QueryMap, fit_query_map
from gateway import knowledge_cli
from gateway.knowledge_eval import evaluate, metrics
from gateway.query_map_fitting import collect, evaluate_out_of_fold, fit, fit_and_save
from storage.vectors import EdgeVectorStore
from tests.knowledge.test_retrieval_eval import EVAL_VECTORS

QUICK = FitSettings(temperature=0.05, scale=0.0, steps=150, rate=0.01)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class Synthetic:
    """Passages, and questions that state a passage in their own way: a fixed distortion (how
    customers' words differ from a document's) plus noise."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(7)
        self.passages = unit(self.rng.normal(size=(30, 16)))
        self.style = self.rng.normal(size=(16, 16)) * 0.6

    def questions(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        asked = self.rng.integers(0, len(self.passages), count)
        own = self.passages[asked]
        return unit(own + own @ self.style + 0.25 * self.rng.normal(size=own.shape)), asked

    def first_right(self, questions: np.ndarray, asked: np.ndarray,
                    query_map: QueryMap | None = None) -> float:
        if query_map is not None:
            questions = np.array([query_map.apply(q) for q in questions])
        return float(np.mean(np.argmax(questions @ self.passages.T, axis=1) == asked))


def test_a_map_gives_a_unit_vector_and_a_zero_map_keeps_the_query() -> None:
    query = [0.6, 0.8, 0.0]
    assert QueryMap(np.zeros((3, 3), dtype=np.float32)).apply(query) == pytest.approx(query)
    mapped = QueryMap(np.eye(3, dtype=np.float32)[[2, 0, 1]]).apply(query)
    assert np.linalg.norm(mapped) == pytest.approx(1.0)
    assert mapped != pytest.approx(query)


def test_the_fit_puts_new_questions_on_their_passages_and_is_deterministic() -> None:
    world = Synthetic()
    train, asked = world.questions(300)
    test, test_asked = world.questions(150)
    group = FitGroup(train, world.passages, [[int(i)] for i in asked])
    fitted = fit_query_map([group], QUICK)
    assert world.first_right(test, test_asked) < 0.4
    assert world.first_right(test, test_asked, fitted) > 0.9
    assert np.array_equal(fit_query_map([group], QUICK).matrix, fitted.matrix)


def test_the_scale_penalty_keeps_the_cosines_near_the_models_own() -> None:
    world = Synthetic()
    train, asked = world.questions(300)
    group = FitGroup(train, world.passages, [[int(i)] for i in asked])

    def change(settings: FitSettings) -> float:
        query_map = fit_query_map([group], settings)
        mapped = np.array([query_map.apply(q) for q in train])
        return float(np.abs(mapped @ world.passages.T - train @ world.passages.T).mean())

    free, kept = change(QUICK), change(FitSettings(temperature=0.05, scale=300.0, steps=150,
                                                   rate=0.01))
    assert kept < free / 2


class Fixed:
    """An embedder reading a few words as fixed directions."""

    name, dim = "fixed-3", 3
    WORDS: ClassVar[dict[str, list[float]]] = {
        "north": [1.0, 0.0, 0.0], "east": [0.0, 1.0, 0.0], "up": [0.0, 0.0, 1.0]}

    def __init__(self, thresholds: ScoreThresholds) -> None:
        self.thresholds = thresholds

    def _vectors(self, texts: Sequence[str]) -> list[list[float]]:
        return [next(v for w, v in self.WORDS.items() if w in text.lower()) for text in texts]

    async def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        return self._vectors(texts)

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return self._vectors(texts)

    async def aclose(self) -> None:
        return None


async def test_a_search_maps_its_query_and_the_turns_vector_stays_the_models_own(
    tmp_path: Path,
) -> None:
    north_to_east = QueryMap(np.array([[-1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
                                      dtype=np.float32))
    embedder = Fixed(ScoreThresholds(search=0.1, answer=0.5, duplicate=0.99,
                                     query_map=north_to_east))
    store = EdgeVectorStore(tmp_path, "mapped")
    await store.ensure_collection(3)
    kb = KnowledgeBase(embedder, store, mode=RetrievalMode.DENSE)
    await kb.ingest_document("c", "compass", "# Compass\n\nNorth: the river.\n\nEast: the market.")
    try:
        assert await kb.embed_query("north?") == [1.0, 0.0, 0.0]  # what the decision layer reads
        for found in (await kb.search("c", "north?"),
                      await kb.search("c", "whatever", query_vector=[1.0, 0.0, 0.0])):
            assert found.value and "market" in found.value[0].content
    finally:
        await store.aclose()


async def test_the_fitting_command_validates_on_dev_and_saves_a_map_that_loads(
    tmp_path: Path,
) -> None:
    parser = argparse.ArgumentParser()
    knowledge_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["knowledge", "eval", "--fit-query-map", str(tmp_path / "m.npy")])
    with pytest.raises(ValueError, match="dev split only"):
        await knowledge_cli._eval(args, KnowledgeBase(object(), object(),  # type: ignore[arg-type]
                                                      thresholds=ScoreThresholds(0.5, 0.5, 0.9)))
    embedder = CachedEmbedder(LocalE5Embedder(), EVAL_VECTORS)
    report = await fit_and_save(embedder, tmp_path / "m.npy", ["salon_almaty"],
                                FitSettings(steps=3))
    lines = report.splitlines()
    assert lines[0].startswith("query map of local-e5-small-384 on ")
    assert [line.split("  ")[0] for line in lines[2:4]] == ["odd ids", "even ids"]
    assert "→" in lines[2] and lines[-1].startswith(f"saved to {tmp_path / 'm.npy'}")
    assert np.load(tmp_path / "m.npy").shape == (384, 384)


async def test_out_of_fold_the_dev_split_reads_what_a_base_the_map_never_saw_gets() -> None:
    parser = argparse.ArgumentParser()
    knowledge_cli.register(parser.add_subparsers(dest="command"))
    unmapped = KnowledgeBase(object(), object(),  # type: ignore[arg-type]
                             thresholds=ScoreThresholds(0.5, 0.5, 0.9))
    for argv, error in ((["--out-of-fold"], "dev split only"),
                        (["--split", "dev", "--out-of-fold"], "has no query map")):
        with pytest.raises(ValueError, match=error):
            await knowledge_cli._eval(parser.parse_args(["knowledge", "eval", *argv]), unmapped)
    embedder = CachedEmbedder(LocalE5Embedder(), EVAL_VECTORS)
    bases = ["fitness_almaty", "edu_astana"]
    served = metrics(await evaluate(embedder, split="dev", bases=bases))
    out_of_fold = await evaluate_out_of_fold(embedder, bases, settings=FitSettings(steps=3))
    assert {o.case.base for o in out_of_fold} == set(bases) and len(out_of_fold) == 399
    # the shipped map was fitted on these questions: as served they read higher
    assert metrics(out_of_fold)["recall@1"] < served["recall@1"] - 0.03


async def test_the_shipped_map_is_the_fit_of_the_current_dev_split() -> None:
    """Renew it with `knowledge eval --split dev --fit-query-map ai/e5_query_map.npy` after
    changing the dev questions or the chunking."""
    data = await collect(CachedEmbedder(LocalE5Embedder(), EVAL_VECTORS))
    assert sum(len(item.cases) for item in data) > 1500
    assert np.allclose(fit(data).matrix, E5_QUERY_MAP.matrix, atol=1e-3)
