"""The decision classifier (`core.semantic`): ridge least squares with a softmax on top, over
two blocks of features of a message: its embedding (standardised per dimension) and its hashed
character n-grams (`core.char_grams`). Fitted in its dual by conjugate gradients (a second or
two for ~3,600 messages on 2 cores; the caller runs it off the event loop), then kept as primal
weights, so a message costs one small matrix product."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.char_grams import DIMENSIONS, char_grams

# The L2 penalty, the softmax temperature and the weight of the lexical block, chosen by
# cross-validation on the decision set (`eval decisions --calibrate` reports the folds).
RIDGE = 300.0
TEMPERATURE = 10.0
LEXICAL_WEIGHT = 1.0
# A label with fewer rows than this (a client's own topic with a few examples) weighs as if it
# had this many, so that the fit does not drown it among thousands of other messages.
MIN_LABEL_WEIGHT = 30
CG_TOLERANCE = 1e-4  # relative residual of the fit's linear solve
CG_MAX_ITERATIONS = 500


class LinearClassifier:
    def __init__(self, labels: tuple[str, ...], mean: np.ndarray, scale: np.ndarray,
                 weights: np.ndarray) -> None:
        self.labels, self._mean, self._scale, self._weights = labels, mean, scale, weights

    @classmethod
    def fit(cls, labels: Sequence[str], vectors: np.ndarray, texts: Sequence[str]) -> LinearClassifier:
        """`vectors`: unit embeddings, one row per text."""
        classes = tuple(dict.fromkeys(labels))
        mean = vectors.mean(axis=0)
        scale = vectors.std(axis=0)
        scale[scale == 0] = 1.0
        features = _features(vectors, texts, mean, scale)
        column = {label: i for i, label in enumerate(classes)}
        rows = np.array([column[x] for x in labels])
        targets = np.zeros((len(rows), len(classes)), np.float32)
        targets[np.arange(len(rows)), rows] = 1.0
        counts = np.bincount(rows, minlength=len(classes))
        root = np.sqrt(np.maximum(1.0, MIN_LABEL_WEIGHT / counts[rows]))[:, None].astype(np.float32)
        features *= root  # in place: the features are the one large array of a fit
        dual = _ridge_dual(features, targets * root)
        weights = features.T @ dual
        return cls(classes, mean, scale, weights)

    def probabilities(self, vector: np.ndarray, text: str) -> dict[str, float]:
        features = _features(vector[None, :], [text], self._mean, self._scale)[0]
        scores = features @ self._weights
        scores = (scores - scores.max()) * TEMPERATURE
        odds = np.exp(scores)
        return dict(zip(self.labels, (odds / odds.sum()).tolist(), strict=True))


def _ridge_dual(features: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Solve (F Fᵀ + RIDGE·I) A = Y by conjugate gradients, one column per label at once, never
    forming the n × n matrix: ~3,600 rows take ~70 iterations and no more memory than the
    features (a direct solve in float64 needed ~200 MB more)."""
    solution = np.zeros_like(targets)
    residual = targets.copy()
    direction = residual.copy()
    norms = (residual * residual).sum(axis=0)
    tolerance = (CG_TOLERANCE ** 2) * norms.max()
    for _ in range(CG_MAX_ITERATIONS):
        product = features @ (features.T @ direction) + RIDGE * direction
        step = norms / np.maximum((direction * product).sum(axis=0), 1e-30)
        solution += direction * step
        residual -= product * step
        updated = (residual * residual).sum(axis=0)
        if updated.max() <= tolerance:
            break
        direction = residual + direction * (updated / np.maximum(norms, 1e-30))
        norms = updated
    return solution


def _features(vectors: np.ndarray, texts: Sequence[str], mean: np.ndarray,
              scale: np.ndarray) -> np.ndarray:
    """[standardised embedding | n-grams scaled to weigh like it | 1 for the bias], filled in
    place in one float32 matrix."""
    count, dim = vectors.shape
    features = np.empty((count, dim + DIMENSIONS + 1), dtype=np.float32)
    np.subtract(vectors, mean, out=features[:, :dim])
    features[:, :dim] /= scale
    lexical = char_grams(texts, out=features[:, dim:dim + DIMENSIONS])
    lexical *= LEXICAL_WEIGHT * np.sqrt(dim)
    features[:, -1] = 1.0
    return features
