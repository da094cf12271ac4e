"""The semantic layer of the decision (PRODUCT.md §4): the turn's embedding (computed once, and
handed on to retrieval) read by a linear classifier fitted to labelled messages: the example
messages of every intent and every escalation topic of the client's policy, and the labelled
decision corpus (the `dev` split of knowledge/eval/decisions, handed in by the composition root)
for the labels it shares with the policy. The classifier says how likely the turn needs a
person (the summed probability of every escalation label) and which label; the nearest example
of that label is what the audit and the card show.

Why a classifier rather than the nearest examples: cosines of a small multilingual model sit in
a narrow band (0.8–0.93 for almost anything), so a message that shares a shape with one example
("можно … маникюр?") scores like one that shares its meaning; a least-squares fit over all the
labelled messages weighs the dimensions that separate the labels. Measured on the decision set
(cross-validated, and round 1 → round 2): a third fewer false escalations at the same recall.

Example vectors are computed once per (examples, embedder) and kept in memory (and in the
archive); a classifier is fitted once per (intents, policy, corpus) in a few tens of ms.
numpy is used as plain math."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.calibration import DecisionThresholds, thresholds_for
from core.intent_examples import INTENT_EXAMPLES
from core.policy import PolicyTopic
from core.ports import Embedder, VectorArchive

log = logging.getLogger(__name__)

# Labels whose examples mean "a person is needed": the policy topics and these two intents.
ESCALATING_INTENTS = frozenset({"human_request", "frustration"})
REJECTION = "rejection"
EMBED_BATCH = 32  # examples per embedding call, so that a turn's query can slip in between
CACHE_SIZE = 64  # example sets (embedder × policy) and classifiers kept in memory
# The classifier's L2 penalty and the temperature of its softmax, chosen by cross-validation
# on the decision set (python -m gateway eval decisions --calibrate reports the folds).
RIDGE = 300.0
TEMPERATURE = 10.0
# A label with fewer rows than this (a client's own topic with a few examples) weighs as if it
# had this many, so that the fit does not drown it among hundreds of other messages.
MIN_LABEL_WEIGHT = 30


@dataclass(frozen=True, slots=True)
class SemanticVerdict:
    """What the classifier reads in a turn: the most probable label that needs a person and its
    nearest example (what the audit shows), the probability that the turn needs a person at all
    (every escalation label together), and the probability that it asks the bot to stop."""

    label: str | None
    example: str | None
    escalation: float
    rejection: float


class ExampleIndex:
    """Unit vectors of a set of labelled examples (rows of `matrix`); `key` names the set and
    the embedder."""

    def __init__(self, key: str, labels: Sequence[str], texts: Sequence[str],
                 matrix: np.ndarray) -> None:
        self.key, self.labels, self.texts, self.matrix = key, tuple(labels), tuple(texts), matrix

    def nearest(self, vector: np.ndarray, label: str) -> tuple[str, float] | None:
        """The example of `label` nearest to a unit vector, and its cosine."""
        rows = [i for i, x in enumerate(self.labels) if x == label]
        if not rows:
            return None
        scores = self.matrix[rows] @ vector
        best = int(np.argmax(scores))
        return self.texts[rows[best]], float(scores[best])


class LinearClassifier:
    """A least-squares (ridge) classifier over standardised unit vectors, softmax on top: fitted
    in closed form (one 385 × 385 solve), so a client's edited policy gets its own at once."""

    def __init__(self, labels: tuple[str, ...], mean: np.ndarray, scale: np.ndarray,
                 weights: np.ndarray) -> None:
        self.labels, self._mean, self._scale, self._weights = labels, mean, scale, weights

    @classmethod
    def fit(cls, labels: Sequence[str], matrix: np.ndarray) -> LinearClassifier:
        classes = tuple(dict.fromkeys(labels))
        mean = matrix.mean(axis=0)
        scale = matrix.std(axis=0)
        scale[scale == 0] = 1.0
        features = np.hstack([(matrix - mean) / scale, np.ones((len(matrix), 1), np.float32)])
        column = {label: i for i, label in enumerate(classes)}
        rows = np.array([column[x] for x in labels])
        targets = np.zeros((len(matrix), len(classes)), np.float32)
        targets[np.arange(len(matrix)), rows] = 1.0
        counts = np.bincount(rows, minlength=len(classes))
        weighted = features * np.maximum(1.0, MIN_LABEL_WEIGHT / counts[rows])[:, None]
        gram = weighted.T @ features + RIDGE * np.eye(features.shape[1], dtype=np.float32)
        gram[-1, -1] -= RIDGE  # the bias is not penalised
        weights = np.linalg.solve(gram.astype(np.float64), (weighted.T @ targets).astype(np.float64))
        return cls(classes, mean, scale, weights.astype(np.float32))

    def probabilities(self, vector: np.ndarray) -> dict[str, float]:
        scores = ((vector - self._mean) / self._scale) @ self._weights[:-1] + self._weights[-1]
        scores = (scores - scores.max()) * TEMPERATURE
        odds = np.exp(scores)
        return dict(zip(self.labels, (odds / odds.sum()).tolist(), strict=True))


def _unit(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def intent_examples() -> list[tuple[str, str]]:
    return [(label, text) for label, texts in INTENT_EXAMPLES.items() for text in texts]


def topic_examples(topics: Sequence[PolicyTopic]) -> list[tuple[str, str]]:
    """A topic's examples, or its phrases when it has none (a client's topic may have only
    rules; its phrases are the best description of it there is)."""
    return [(t.name, text) for t in topics for text in (t.examples or t.phrases)]


def _digest(embedder_name: str, examples: Sequence[tuple[str, str]]) -> str:
    payload = json.dumps([embedder_name, list(examples)], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class ExampleVectors:
    """Computed example indexes, least recently used dropped first; one computation per key at a
    time (concurrent turns of a new policy wait for the first one's result)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._archive: VectorArchive | None = None
        self._indexes: OrderedDict[str, ExampleIndex] = OrderedDict()
        self._pending: dict[str, asyncio.Future[ExampleIndex]] = {}
        self.computed = 0  # how many indexes were embedded (the cache's misses)

    def keep_in(self, archive: VectorArchive) -> None:
        """Keep computed vectors in `archive` too, and look there before computing: a restart
        of the process needs not embed the examples again."""
        self._archive = archive

    async def index(self, embedder: Embedder, examples: Sequence[tuple[str, str]]) -> ExampleIndex:
        key = _digest(embedder.name, examples)
        if key in self._indexes:
            self._indexes.move_to_end(key)
            return self._indexes[key]
        if key in self._pending:
            return await asyncio.shield(self._pending[key])
        future: asyncio.Future[ExampleIndex] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            index = await self._embed(embedder, examples, key)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must log it
            raise
        finally:
            del self._pending[key]
        future.set_result(index)
        self._indexes[key] = index
        while len(self._indexes) > self._size:
            self._indexes.popitem(last=False)
        return index

    async def _embed(self, embedder: Embedder, examples: Sequence[tuple[str, str]],
                     key: str) -> ExampleIndex:
        texts = [text for _, text in examples]
        vectors = self._archive.load(key, len(texts)) if self._archive else None
        if vectors is None:
            vectors = []
            for start in range(0, len(texts), EMBED_BATCH):
                vectors += await embedder.embed_queries(texts[start:start + EMBED_BATCH])
            self.computed += 1
            log.info("example vectors computed", extra={"embedder": embedder.name,
                                                        "examples": len(texts)})
            if self._archive is not None and vectors:
                self._archive.save(key, vectors)
        matrix = _unit(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
        return ExampleIndex(key, tuple(label for label, _ in examples), tuple(texts), matrix)


# One process, one set of computed vectors: every processor built in it shares them.
SHARED_VECTORS = ExampleVectors()


class SemanticMatcher:
    """The classifier of a turn's vector over the intents' examples, a policy's topics and the
    labelled corpus. Examples are embedded as queries, the way `KnowledgeBase.embed_query`
    embeds the turn. `thresholds`: the embedder's calibrated ones by default (None when it has
    none). `corpus`: labelled messages (label, text); labels are intents or topic names, and a
    topic's messages count only for a policy that has that topic."""

    def __init__(self, embedder: Embedder, vectors: ExampleVectors = SHARED_VECTORS,
                 thresholds: DecisionThresholds | None = None,
                 corpus: Sequence[tuple[str, str]] = ()) -> None:
        self.embedder = embedder
        self.thresholds = thresholds or thresholds_for(embedder.name)
        self._vectors = vectors
        self._corpus = tuple(corpus)
        self._classifiers: OrderedDict[tuple[str, str, str], _Fitted] = OrderedDict()

    async def prepare(self, topics: Sequence[PolicyTopic]) -> None:
        """Compute (or find) the vectors of these topics ahead of the first turn."""
        await self._classifier(topics)

    async def _classifier(self, topics: Sequence[PolicyTopic]) -> _Fitted:
        intents = await self._vectors.index(self.embedder, intent_examples())
        policy = await self._vectors.index(self.embedder, topic_examples(topics))
        corpus = await self._vectors.index(self.embedder, self._corpus) if self._corpus else None
        key = (intents.key, policy.key, corpus.key if corpus else "")
        if (fitted := self._classifiers.get(key)) is not None:
            self._classifiers.move_to_end(key)
            return fitted
        known = {*INTENT_EXAMPLES, *(t.name for t in topics)}
        rows = [i for i, label in enumerate(corpus.labels) if label in known] if corpus else []
        parts = [m for m in (intents.matrix, policy.matrix) if m.size]
        labels = [*intents.labels, *policy.labels]
        if corpus is not None and rows:
            parts.append(corpus.matrix[rows])
            labels += [corpus.labels[i] for i in rows]
        fitted = _Fitted(LinearClassifier.fit(labels, np.vstack(parts)), (intents, policy),
                         frozenset({*ESCALATING_INTENTS, *(t.name for t in topics)}))
        self._classifiers[key] = fitted
        while len(self._classifiers) > CACHE_SIZE:
            self._classifiers.popitem(last=False)
        return fitted

    async def verdict(self, vector: Sequence[float], topics: Sequence[PolicyTopic],
                      excluded: frozenset[str] = frozenset()) -> SemanticVerdict:
        """How likely the turn needs a person, and which label; `excluded` labels (named only
        in the negative) count for nothing."""
        fitted = await self._classifier(topics)
        query = _unit([vector])[0]
        probabilities = {label: (0.0 if label in excluded else p)
                         for label, p in fitted.classifier.probabilities(query).items()}
        escalating = {label: p for label, p in probabilities.items() if label in fitted.escalating}
        if not escalating:
            return SemanticVerdict(None, None, 0.0, probabilities.get(REJECTION, 0.0))
        label = max(escalating, key=escalating.__getitem__)
        nearest = next((found for index in fitted.indexes
                        if (found := index.nearest(query, label)) is not None), None)
        return SemanticVerdict(label, nearest[0] if nearest else None,
                               sum(escalating.values()), probabilities.get(REJECTION, 0.0))


@dataclass(frozen=True, slots=True)
class _Fitted:
    classifier: LinearClassifier
    indexes: tuple[ExampleIndex, ...]  # where the nearest example of a label is looked for
    escalating: frozenset[str]
