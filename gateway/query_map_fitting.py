"""Fitting the embedder's query map (`core.query_map`) on the dev split of the labelled sets:
`python -m gateway knowledge eval --split dev --fit-query-map FILE [--cache FILE]`.

Each base's chunks are embedded as ingestion embeds them and each answerable dev question as a
search embeds it; a question's right chunks are those holding one of its facts as the evaluation
reads them. The map is fitted on every base and saved to FILE (numpy `.npy`, the matrix `A`);
before that, the same fit is cross-validated, each fold's questions asked as served
(`knowledge eval`) with the embedder's thresholds without a map and with the fold's map:
a base held back (fitted on the other two: what a new client's base gets) and odd / even ids
held back (fitted on the rest: new questions on a known base).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core.chunking import chunk_document
from core.knowledge import MAX_QUERY_CHARS
from core.ports import Embedder, Reranker
from core.query_map import DEFAULT_FIT, FitGroup, FitSettings, QueryMap, fit_query_map
from core.query_text import normalize_for_embedding
from gateway.knowledge_eval import (
    BASES,
    BASES_DIR,
    HELD_BACK,
    Case,
    Outcome,
    evaluate,
    fold_lines,
    folded_has_facts,
    load_cases,
    metrics,
)

SHOWN = ("recall@1", "recall@1500ch", "reply", "no_answer_precision", "no_answer_recall")


@dataclass(frozen=True, slots=True)
class BaseData:
    """One base's chunk vectors and its answerable dev questions with their right chunks."""

    base: str
    passages: np.ndarray
    cases: list[Case]
    queries: np.ndarray
    right: list[list[int]]

    def group(self, keep: Callable[[Case], bool]) -> FitGroup | None:
        rows = [i for i, case in enumerate(self.cases) if keep(case)]
        if not rows:
            return None
        return FitGroup(self.queries[rows], self.passages, [self.right[i] for i in rows])


async def collect(embedder: Embedder, bases: Sequence[str] = BASES) -> list[BaseData]:
    data = []
    for base in bases:
        chunks = [chunk for path in sorted((BASES_DIR / base).glob("*.md"))
                  for chunk in chunk_document(path.read_text(encoding="utf-8"))]
        folded = [fold_lines(chunk.text) for chunk in chunks]
        cases, right = [], []
        for case in load_cases(base, "dev"):
            held = [i for i, text in enumerate(folded)
                    if any(folded_has_facts(text, [fact]) for fact in case.facts)]
            if held:
                cases.append(case)
                right.append(held)
        if not cases:
            continue
        passages = await embedder.embed_passages([chunk.embedding_text for chunk in chunks])
        queries = await embedder.embed_queries(
            [normalize_for_embedding(case.question[:MAX_QUERY_CHARS]) for case in cases])
        data.append(BaseData(base, np.array(passages, dtype=np.float32), cases,
                             np.array(queries, dtype=np.float32), right))
    return data


def fit(data: Sequence[BaseData], keep: Callable[[Case], bool] = lambda case: True,
        settings: FitSettings = DEFAULT_FIT) -> QueryMap | None:
    """The map fitted on the questions `keep` keeps (None when it keeps none)."""
    groups = [group for item in data if (group := item.group(keep)) is not None]
    return fit_query_map(groups, settings) if groups else None


async def cross_validate(embedder: Embedder, data: Sequence[BaseData],
                         settings: FitSettings = DEFAULT_FIT) -> list[str]:
    """A line per fold: its held-back questions' figures without a map → with the fold's
    (a fold with nothing to hold back or nothing left to fit on is left out)."""
    plain = replace(embedder.thresholds, query_map=None)
    bases = [item.base for item in data]
    lines = [f"{'held back':<24}" + "".join(f"{name:>22}" for name in SHOWN)]
    for name, held_back in HELD_BACK:
        if not any(held_back(case) for item in data for case in item.cases):
            continue
        fold_map = fit(data, lambda case, h=held_back: not h(case), settings)
        if fold_map is None:
            continue
        mapped = replace(plain, query_map=fold_map)
        before, after = [
            metrics(await evaluate(embedder, split="dev", bases=bases, thresholds=thresholds,
                                   only=held_back))
            for thresholds in (plain, mapped)]
        lines.append(f"{name:<24}" + "".join(
            f"{_figure(before[key]):>10} → {_figure(after[key]):<9}" for key in SHOWN))
    return lines


async def fold_maps_of(embedder: Embedder, bases: Sequence[str],
                       settings: FitSettings = DEFAULT_FIT) -> dict[str, QueryMap]:
    """For each base with dev questions, the map fitted on the other bases' ones (none when
    no other base has any)."""
    data = await collect(embedder, bases)
    maps = {item.base: fit(data, lambda case, b=item.base: case.base != b, settings)
            for item in data}
    return {base: query_map for base, query_map in maps.items() if query_map is not None}


async def evaluate_out_of_fold(embedder: Embedder, bases: Sequence[str] = BASES,
                               reranker: Reranker | None = None, no_answer_text: str = "",
                               settings: FitSettings = DEFAULT_FIT) -> list[Outcome]:
    """The dev split with each base searched under a map fitted without its questions (no
    map when no other base has any): the shipped map was fitted on the dev questions and
    lifts their cosines, so dev as served reads higher than a new client's questions will
    (R@1 0.851 against 0.783, held-out 0.788; knowledge/README.md, round 18). A change tuned
    on these figures is tuned on what the map has not seen."""
    maps = await fold_maps_of(embedder, bases, settings)
    outcomes: list[Outcome] = []
    for base in bases:
        outcomes += await evaluate(
            embedder, split="dev", bases=[base], reranker=reranker, no_answer_text=no_answer_text,
            thresholds=replace(embedder.thresholds, query_map=maps.get(base)))
    return outcomes


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


async def fit_and_save(embedder: Embedder, path: Path, bases: Sequence[str] = BASES,
                       settings: FitSettings = DEFAULT_FIT) -> str:
    """Cross-validate, fit on every base's dev questions, save to `path`; the report."""
    data = await collect(embedder, bases)
    lines = [f"query map of {embedder.name} on "
             f"{sum(len(item.cases) for item in data)} answerable dev questions",
             *await cross_validate(embedder, data, settings)]
    query_map = fit(data, settings=settings)
    if query_map is None:
        raise ValueError("no answerable dev questions to fit on")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:  # exactly `path` (np.save would add ".npy" to a bare name)
        np.save(file, query_map.matrix)
    lines.append(f"saved to {path} (|A| {float(np.linalg.norm(query_map.matrix)):.3f})")
    return "\n".join(lines)
