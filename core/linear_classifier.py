"""The decision classifier (`core.semantic`): ridge least squares with a softmax on top, over
two blocks of features of a message: its embedding (standardised per dimension) and its hashed
character n-grams (`core.char_grams`). Fitted in closed form in its dual (one n × n solve for n
training messages, a second or two for ~3,000 on 2 cores; the caller runs it off the event
loop), then kept as primal weights, so a message costs one small matrix product."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.char_grams import char_grams

# The L2 penalty, the softmax temperature and the weight of the lexical block, chosen by
# cross-validation on the decision set (`eval decisions --calibrate` reports the folds).
RIDGE = 300.0
TEMPERATURE = 10.0
LEXICAL_WEIGHT = 1.0
# A label with fewer rows than this (a client's own topic with a few examples) weighs as if it
# had this many, so that the fit does not drown it among thousands of other messages.
MIN_LABEL_WEIGHT = 30


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
        weighted, weighted_targets = features * root, targets * root
        gram = (weighted @ weighted.T).astype(np.float64)
        gram[np.diag_indices_from(gram)] += RIDGE
        dual = np.linalg.solve(gram, weighted_targets.astype(np.float64))
        weights = (weighted.T.astype(np.float64) @ dual).astype(np.float32)
        return cls(classes, mean, scale, weights)

    def probabilities(self, vector: np.ndarray, text: str) -> dict[str, float]:
        features = _features(vector[None, :], [text], self._mean, self._scale)[0]
        scores = features @ self._weights
        scores = (scores - scores.max()) * TEMPERATURE
        odds = np.exp(scores)
        return dict(zip(self.labels, (odds / odds.sum()).tolist(), strict=True))


def _features(vectors: np.ndarray, texts: Sequence[str], mean: np.ndarray,
              scale: np.ndarray) -> np.ndarray:
    """[standardised embedding | n-grams scaled to weigh like it | 1 for the bias]."""
    lexical = char_grams(texts) * (LEXICAL_WEIGHT * np.sqrt(vectors.shape[1]))
    return np.hstack([(vectors - mean) / scale, lexical,
                      np.ones((len(vectors), 1), np.float32)]).astype(np.float32)
