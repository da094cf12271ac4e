"""The semantic layer of the decision (PRODUCT.md §4): the turn's embedding (computed once, and
handed on to retrieval) compared with example messages of every intent and every escalation
topic. Each label is scored by the mean cosine of its three nearest examples; the best
escalation label decides when it is close enough (a threshold calibrated per embedder on the
labelled set, `core.calibration`) and clearly nearer than the best non-escalation label (the
margin).

Example vectors are computed once per (examples, embedder) and kept in memory: a client's
edited policy gets its vectors on its first turn, the unchanged default set never again.
numpy is used as plain math (cosine of one vector against a matrix)."""

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
EMBED_BATCH = 32  # examples per embedding call, so that a turn's query can slip in between
CACHE_SIZE = 64  # example sets (embedder × policy) kept in memory
NEAREST_PER_LABEL = 3  # examples whose mean cosine scores a label


@dataclass(frozen=True, slots=True)
class Nearest:
    """How close a label's examples are: `score` is the mean cosine of its NEAREST_PER_LABEL
    nearest examples, `example` the nearest one (what the audit shows)."""

    label: str
    example: str
    score: float


@dataclass(frozen=True, slots=True)
class SemanticVerdict:
    """The best escalation label and the best other label, each with its nearest example."""

    escalation: Nearest | None
    other: Nearest | None

    @property
    def margin(self) -> float:
        if self.escalation is None:
            return float("-inf")
        return self.escalation.score - (self.other.score if self.other else 0.0)


class ExampleIndex:
    """Unit vectors of a set of labelled examples (rows of `matrix`), grouped by label."""

    def __init__(self, labels: Sequence[str], texts: Sequence[str], matrix: np.ndarray) -> None:
        self.labels, self.texts, self.matrix = tuple(labels), tuple(texts), matrix
        self._rows = {label: np.array([i for i, x in enumerate(self.labels) if x == label])
                      for label in dict.fromkeys(self.labels)}

    def nearest(self, vector: np.ndarray) -> dict[str, Nearest]:
        """Each label scored by its few nearest examples rather than its single nearest one:
        one example that happens to share a message's shape ("можно … маникюр?") moves the
        mean of three less than it moves the maximum, so a label wins by being near as a
        whole (measured on the decision set and on fresh messages: fewer false escalations)."""
        if not self.texts:
            return {}
        scores = self.matrix @ vector
        best: dict[str, Nearest] = {}
        for label, rows in self._rows.items():
            own = scores[rows]
            k = min(NEAREST_PER_LABEL, len(own))
            top = np.argpartition(-own, k - 1)[:k]
            nearest_row = rows[top[np.argmax(own[top])]]
            best[label] = Nearest(label, self.texts[nearest_row], float(own[top].mean()))
        return best


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
        return ExampleIndex(tuple(label for label, _ in examples), tuple(texts), matrix)


# One process, one set of computed vectors: every processor built in it shares them.
SHARED_VECTORS = ExampleVectors()


class SemanticMatcher:
    """Nearest examples of a turn's vector, over the intents' examples and a policy's topics.
    Examples are embedded as queries, the way `KnowledgeBase.embed_query` embeds the turn.
    `thresholds`: the embedder's calibrated ones by default (None when it has none)."""

    def __init__(self, embedder: Embedder, vectors: ExampleVectors = SHARED_VECTORS,
                 thresholds: DecisionThresholds | None = None) -> None:
        self.embedder = embedder
        self.thresholds = thresholds or thresholds_for(embedder.name)
        self._vectors = vectors

    async def prepare(self, topics: Sequence[PolicyTopic]) -> None:
        """Compute (or find) the example vectors of these topics ahead of the first turn."""
        await self._indexes(topics)

    async def _indexes(self, topics: Sequence[PolicyTopic]) -> tuple[ExampleIndex, ExampleIndex]:
        return (await self._vectors.index(self.embedder, intent_examples()),
                await self._vectors.index(self.embedder, topic_examples(topics)))

    async def verdict(self, vector: Sequence[float], topics: Sequence[PolicyTopic],
                      excluded: frozenset[str] = frozenset()) -> SemanticVerdict:
        """The nearest escalation example (a policy topic, a request for a person, frustration)
        and the nearest other one; `excluded` labels are skipped (named only in the negative)."""
        intents, policy = await self._indexes(topics)
        query = _unit([vector])[0]
        topic_names = {t.name for t in topics}
        escalation: Nearest | None = None
        other: Nearest | None = None
        for nearest in [*intents.nearest(query).values(), *policy.nearest(query).values()]:
            if nearest.label in excluded:
                continue
            if nearest.label in topic_names or nearest.label in ESCALATING_INTENTS:
                if escalation is None or nearest.score > escalation.score:
                    escalation = nearest
            elif other is None or nearest.score > other.score:
                other = nearest
        return SemanticVerdict(escalation, other)
