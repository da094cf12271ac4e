"""A learned linear map of search queries into the documents' side of the embedding space.

Customers ask in other words than a knowledge base states its facts ("до скольки открыты в
субботу" against «Суббота: 10:00–19:00»), and a small general-purpose embedder reads both into a
narrow band of cosines (e5-small: ~0.80-0.90 for most pairs). A search maps its query vector by
`q' = normalise(q + q·A)` before asking the store; documents, learned answers and the decision
layer's reading of the turn keep the model's own vectors.

`A` is fitted on the dev split of the labelled sets (`knowledge eval --fit-query-map`): for each
question, a softmax over its base's chunks at a low temperature makes the chunks holding its fact
the likely ones; a penalty keeps every cosine near the model's own (the thresholds, fusion weights
and no-answer model were calibrated on that scale and stay valid); an L2 penalty keeps `A` small.
Full-batch Adam from zero: the same data gives the same map. Measured in knowledge/README.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True, eq=False)
class QueryMap:
    """`matrix`: A, (dim, dim)."""

    matrix: np.ndarray

    def apply(self, vector: Sequence[float]) -> list[float]:
        query = np.asarray(vector, dtype=np.float32)
        mapped = query + query @ self.matrix
        norm = float(np.linalg.norm(mapped))
        return (mapped / norm).tolist() if norm > 0 else list(vector)


@dataclass(frozen=True, slots=True)
class FitGroup:
    """One knowledge base: its questions' unit vectors (n, dim), its chunks' unit vectors
    (m, dim), and for each question the rows of `passages` that hold its fact."""

    queries: np.ndarray
    passages: np.ndarray
    right: Sequence[Sequence[int]]


@dataclass(frozen=True, slots=True)
class FitSettings:
    """Chosen by cross-validation on the dev split, a base held back at a time
    (knowledge/README.md, round 13)."""

    temperature: float = 0.02
    l2: float = 0.01
    scale: float = 300.0  # weight of the mean squared change of a cosine
    steps: int = 150
    rate: float = 1e-3


DEFAULT_FIT = FitSettings()


def fit_query_map(groups: Sequence[FitGroup], settings: FitSettings = DEFAULT_FIT) -> QueryMap:
    dim = groups[0].queries.shape[1]
    count = sum(len(group.queries) for group in groups)
    masks = [_mask(group) for group in groups]
    matrix = np.zeros((dim, dim), dtype=np.float32)
    first = np.zeros_like(matrix)  # Adam's moment estimates
    second = np.zeros_like(matrix)
    for step in range(1, settings.steps + 1):
        gradient = 2 * settings.l2 * matrix
        for group, mask in zip(groups, masks, strict=True):
            gradient += _gradient(matrix, group, mask, settings) / count
        first = 0.9 * first + 0.1 * gradient
        second = 0.999 * second + 0.001 * gradient * gradient
        matrix -= settings.rate * (first / (1 - 0.9 ** step)) \
            / (np.sqrt(second / (1 - 0.999 ** step)) + 1e-8)
    return QueryMap(matrix)


def _mask(group: FitGroup) -> np.ndarray:
    mask = np.zeros((len(group.queries), len(group.passages)), dtype=np.float32)
    for row, right in enumerate(group.right):
        mask[row, list(right)] = 1.0
    return mask


def _gradient(matrix: np.ndarray, group: FitGroup, mask: np.ndarray,
              settings: FitSettings) -> np.ndarray:
    """The gradient of the group's summed loss: -log of the softmax mass of the right chunks,
    plus `scale` x the mean squared change of the question's cosines."""
    queries, passages = group.queries, group.passages
    mapped = queries + queries @ matrix
    norms = np.linalg.norm(mapped, axis=1, keepdims=True)
    unit = mapped / norms
    cosines = unit @ passages.T
    logits = cosines / settings.temperature
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    right = probabilities * mask
    d_cosines = (probabilities - right / right.sum(axis=1, keepdims=True)) / settings.temperature \
        + settings.scale * 2 * (cosines - queries @ passages.T) / cosines.shape[1]
    d_unit = d_cosines @ passages
    d_mapped = (d_unit - unit * (unit * d_unit).sum(axis=1, keepdims=True)) / norms
    return queries.T @ d_mapped
