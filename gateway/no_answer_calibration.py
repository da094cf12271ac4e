"""Calibration of the no-answer model (`core.no_answer`) on the dev split of the labelled sets:
`python -m gateway knowledge eval --split dev --calibrate-no-answer [--cache FILE]`.

Every dev question is searched as served up to the confidence check, under a query map that
did not see its base's questions (`collect`). The FEATURES of those the fixed rules do not
decline (`core.confidence.ruled_out`) are fitted by an L2-regularised logistic regression
(standardised features, gradient descent) to whether the base cannot answer them; the decline
threshold is the lowest probability at which all the declines (the rules' too) are right at
least PRECISION of the time. The same fit is checked by cross-validation: each base held back
in turn, and odd ids, measured on even ones (and back). The printed
model goes into the embedder's thresholds (`ai/local_e5.py` for the bundled one)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from core.confidence import ruled_out
from core.knowledge_types import ScoreThresholds
from core.no_answer import FEATURES, NoAnswerModel, features
from core.ports import Embedder
from core.query_map import DEFAULT_FIT, FitSettings
from gateway.knowledge_eval import (
    BASES,
    BASES_DIR,
    HELD_BACK,
    Case,
    ingest_folder,
    load_cases,
    scratch_knowledge,
)
from gateway.query_map_fitting import fold_maps_of

PRECISION = 0.88  # on the fitted questions (features out of fold, see `collect`; README)
L2 = 0.01
STEPS = 3000
RATE = 0.5


@dataclass(frozen=True, slots=True)
class Row:
    case: Case
    features: tuple[float, ...]
    ruled_out: bool  # declined whatever the model says (`core.confidence.ruled_out`)


async def collect(embedder: Embedder, bases: Sequence[str] = BASES,
                  settings: FitSettings = DEFAULT_FIT) -> list[Row]:
    """Every dev question's features, searched as `knowledge eval` does (no re-ranker). With
    a query map, each base is searched under a map fitted without its questions (no map when
    no other base has any): the shipped map was fitted on these very questions and lifts their
    cosines (dev R@1 0.851 as served, 0.783 out of fold, held-out 0.788), so features taken
    under it teach the model that an answerable question scores higher than a new client's do
    (knowledge/README.md, round 18)."""
    mapped = embedder.thresholds.query_map is not None
    fold_maps = await fold_maps_of(embedder, bases, settings) if mapped else {}
    rows: list[Row] = []
    for base in bases:
        rows += await base_rows(embedder, base, replace(
            embedder.thresholds, query_map=fold_maps.get(base)) if mapped else None)
    return rows


async def base_rows(embedder: Embedder, base: str,
                    thresholds: ScoreThresholds | None = None) -> list[Row]:
    """One base's dev questions searched under these thresholds (the embedder's when None)."""
    cases = load_cases(base, "dev")
    if not cases:
        return []
    rows: list[Row] = []
    async with scratch_knowledge(embedder, thresholds=thresholds) as kb:
        await ingest_folder(kb, base, BASES_DIR / base)
        for case in cases:
            hits, normalized = await kb.candidates(base, case.question)
            if hits:
                rows.append(Row(case, features(case.question, normalized.dense, hits),
                                ruled_out(hits[0], normalized, case.question, kb.thresholds)))
    return rows


def fit(rows: Sequence[Row], precision: float = PRECISION) -> NoAnswerModel:
    """The model of the questions the fixed rules leave to it, its threshold over all."""
    kept = [row for row in rows if not row.ruled_out]
    x = np.array([row.features for row in kept])
    y = np.array([0.0 if row.case.facts else 1.0 for row in kept])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(STEPS):
        error = 1.0 / (1.0 + np.exp(-(z @ w + b))) - y
        w -= RATE * (z.T @ error / len(y) + L2 * w)
        b -= RATE * float(error.mean())
    weights = w / scale
    bias = b - float(weights @ mean)
    model = NoAnswerModel(tuple(round(float(v), 4) for v in weights), round(bias, 4), 1.0)
    return NoAnswerModel(model.weights, model.bias, _threshold(model, rows, precision))


def _threshold(model: NoAnswerModel, rows: Sequence[Row], precision: float) -> float:
    """The lowest probability whose declines are right at least `precision` of the time."""
    scored = sorted(((model.probability(r.features), r) for r in rows),
                    key=lambda item: item[0], reverse=True)
    right = sum(1 for r in rows if r.ruled_out and not r.case.facts)
    wrong = sum(1 for r in rows if r.ruled_out and r.case.facts)
    best = 1.0
    for p, row in scored:
        if not row.ruled_out:
            right, wrong = right + (not row.case.facts), wrong + bool(row.case.facts)
        if right / (right + wrong) >= precision:
            best = p
    return round(best, 4)


def declined(model: NoAnswerModel, row: Row) -> bool:
    return row.ruled_out or model.declines(row.features)


def scores(model: NoAnswerModel, rows: Sequence[Row]) -> tuple[float | None, float, int]:
    """No-answer precision and recall of the model on `rows`, and how many it declines."""
    out = [row for row in rows if declined(model, row)]
    right = sum(1 for row in out if not row.case.facts)
    unanswerable = sum(1 for row in rows if not row.case.facts)
    return (right / len(out) if out else None, right / unanswerable if unanswerable else 0.0,
            len(out))


def folds(rows: Sequence[Row], precision: float = PRECISION) -> list[tuple[str, tuple]]:
    """(name, (precision, recall, declines)) on the held-back part of each fold."""
    splits = [(name, [r for r in rows if not held(r.case)], [r for r in rows if held(r.case)])
              for name, held in HELD_BACK]
    return [(name, scores(fit(train, precision), test)) for name, train, test in splits
            if train and test]


def format_calibration(rows: Sequence[Row], precision: float = PRECISION) -> str:
    model = fit(rows, precision)
    lines = [f"no-answer model on {len(rows)} dev questions, declines right >= {precision}",
             f"{'held back':<26}{'P':>8}{'R':>8}{'declines':>10}"]
    for name, (p, r, n) in folds(rows, precision):
        lines.append(f"{name:<26}{'-' if p is None else f'{p:.3f}':>8}{r:>8.3f}{n:>10}")
    p, r, n = scores(model, rows)
    lines.append(f"{'all (fitted)':<26}{'-' if p is None else f'{p:.3f}':>8}{r:>8.3f}{n:>10}")
    lines.append("features: " + ", ".join(FEATURES))
    lines.append(repr(model))
    return "\n".join(lines)
