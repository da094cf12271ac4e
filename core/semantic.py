"""The semantic layer of the decision (PRODUCT.md §4): the turn's embedding (computed once, and
handed on to retrieval) and its text read by a linear classifier (`core.linear_classifier`:
the embedding and hashed character n-grams) fitted to labelled messages: the example
messages of every intent and every escalation topic of the client's policy, and the labelled
decision corpus (the `dev` split of knowledge/eval/decisions, handed in by the composition root)
for the labels it shares with the policy. The classifier says how likely the turn needs a
person (the summed probability of every escalation label) and which label; the nearest example
of that label is what the audit and the card show.

Why a classifier rather than the nearest examples: cosines of a small multilingual model sit in
a narrow band (0.8–0.93 for almost anything), so a message that shares a shape with one example
("можно … маникюр?") scores like one that shares its meaning; a least-squares fit over all the
labelled messages weighs the dimensions that separate the labels, and the n-grams keep what the
customer literally wrote. Measured on the decision set (cross-validated, and one round's
messages against the next): about a third fewer false escalations from the embedding alone, and
half of the rest again with the n-grams, at a higher recall.

Example vectors are computed once per (examples, embedder) and kept in memory (and in the
archive); a classifier is fitted once per (intents, policy, corpus), in a worker thread.
numpy is used as plain math."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

from core.calibration import DecisionThresholds, thresholds_for
from core.intent_examples import INTENT_EXAMPLES
from core.linear_classifier import LinearClassifier
from core.once_cache import OnceCache, by_identity
from core.policy import PolicyTopic
from core.ports import Embedder, VectorArchive

log = logging.getLogger(__name__)

# Labels whose examples mean "a person is needed": the policy topics and these two intents.
ESCALATING_INTENTS = frozenset({"human_request", "frustration"})
REJECTION = "rejection"
EMBED_BATCH = 32  # examples per embedding call, so that a turn's query can slip in between
CACHE_SIZE = 64  # example sets (embedder × policy) and classifiers kept in memory
READY_WAIT = 2.0  # seconds a turn waits for a classifier being prepared


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
        self._rows = {label: [i for i, x in enumerate(self.labels) if x == label]
                      for label in dict.fromkeys(self.labels)}

    def nearest(self, vector: np.ndarray, label: str) -> tuple[str, float] | None:
        """The example of `label` nearest to a unit vector, and its cosine."""
        rows = self._rows.get(label)
        if not rows:
            return None
        scores = self.matrix[rows] @ vector
        best = int(np.argmax(scores))
        return self.texts[rows[best]], float(scores[best])


def _unit(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


@cache
def intent_examples() -> tuple[tuple[str, str], ...]:
    return tuple((label, text) for label, texts in INTENT_EXAMPLES.items() for text in texts)


@by_identity(256)  # a turn asks two or three times; the topics come from effective_policy
def topic_examples(topics: Sequence[PolicyTopic]) -> tuple[tuple[str, str], ...]:
    """A topic's examples, or its phrases when it has none (a client's topic may have only
    rules; its phrases are the best description of it there is)."""
    return tuple((t.name, text) for t in topics for text in (t.examples or t.phrases))


@lru_cache(maxsize=CACHE_SIZE)
def _digest(embedder_name: str, examples: tuple[tuple[str, str], ...]) -> str:
    """The key of a set of examples, computed once per set: a turn asks for it each time, and
    encoding ~3,600 texts took 4 ms."""
    payload = json.dumps([embedder_name, list(examples)], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class ExampleVectors:
    """Computed example indexes, and the classifiers fitted on them, least recently used dropped
    first; one computation per key at a time (concurrent turns of a new policy wait for the
    first one's result). Shared by every matcher of a process (`SHARED_VECTORS`), so that each
    classifier is fitted once however many systems the process builds (a test run builds
    hundreds; each fit is seconds of CPU in a worker thread that nothing can cancel)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._archive: VectorArchive | None = None
        self._indexes: OnceCache[ExampleIndex] = OnceCache(size)
        self.classifiers: OnceCache[_Fitted] = OnceCache(size)
        self.computed = 0  # how many indexes were embedded (the cache's misses)

    def keep_in(self, archive: VectorArchive) -> None:
        """Keep computed vectors in `archive` too, and look there before computing: a restart
        of the process needs not embed the examples again."""
        self._archive = archive

    async def index(self, embedder: Embedder, examples: Sequence[tuple[str, str]]) -> ExampleIndex:
        examples = tuple(examples)
        key = _digest(embedder.name, examples)
        return await self._indexes.get(key, lambda: self._embed(embedder, examples, key))

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
        # The intents' and the corpus's indexes do not change with the policy: found once, not
        # on every turn (turning ~3,000 examples into their key twice a turn cost ~0.7 ms).
        self._fixed: tuple[ExampleIndex, ExampleIndex | None] | None = None

    async def prepare(self, topics: Sequence[PolicyTopic]) -> None:
        """Compute (or find) the vectors of these topics ahead of the first turn."""
        await self._classifier(topics)

    async def ready(self, topics: Sequence[PolicyTopic]) -> bool:
        """Whether the classifier of these topics is there, waiting for it at most READY_WAIT
        seconds; it goes on being prepared in the background. A first start with the bundled
        model embeds ~3,600 texts (about a minute): turns meanwhile are decided by the rules
        (and the LLM) rather than held."""
        if self._fixed is not None and self._vectors.classifiers.peek(self._key(topics)) is not None:
            return True  # the usual case: no task to start
        preparing = asyncio.ensure_future(self._classifier(topics))
        preparing.add_done_callback(_retrieve)
        try:
            await asyncio.wait_for(asyncio.shield(preparing), READY_WAIT)
        except TimeoutError:
            log.info("semantic classifier not ready yet: the rules decide this turn")
            return False
        except Exception as exc:  # the embedder is down: the rules decide, retried next turn
            log.warning("semantic classifier unavailable: %s", exc)
            return False
        return True

    async def _classifier(self, topics: Sequence[PolicyTopic]) -> _Fitted:
        if self._fixed is None:
            self._fixed = (await self._vectors.index(self.embedder, intent_examples()),
                           await self._vectors.index(self.embedder, self._corpus)
                           if self._corpus else None)
        intents, corpus = self._fixed
        policy = await self._vectors.index(self.embedder, topic_examples(topics))
        return await self._vectors.classifiers.get(
            self._key(topics), lambda: self._fit(intents, policy, corpus, topics))

    def _key(self, topics: Sequence[PolicyTopic]) -> tuple[str, str, str, frozenset[str]]:
        """The classifier's key: its three example sets' (the fixed ones known already) and the
        topics' names (which of the corpus's labels count, which escalate)."""
        assert self._fixed is not None
        intents, corpus = self._fixed
        return (intents.key, _digest(self.embedder.name, topic_examples(topics)),
                corpus.key if corpus else "", frozenset(t.name for t in topics))

    @staticmethod
    async def _fit(intents: ExampleIndex, policy: ExampleIndex, corpus: ExampleIndex | None,
                   topics: Sequence[PolicyTopic]) -> _Fitted:
        """The classifier of these examples, fitted in a worker thread (a second or two)."""
        known = {*INTENT_EXAMPLES, *(t.name for t in topics)}
        parts = [index for index in (intents, policy) if index.texts]
        rows = [i for i, label in enumerate(corpus.labels) if label in known] if corpus else []
        labels = [label for index in parts for label in index.labels]
        texts = [text for index in parts for text in index.texts]
        matrices = [index.matrix for index in parts]
        if corpus is not None and rows:
            labels += [corpus.labels[i] for i in rows]
            texts += [corpus.texts[i] for i in rows]
            matrices.append(corpus.matrix[rows])
        classifier = await asyncio.to_thread(LinearClassifier.fit, labels, np.vstack(matrices), texts)
        return _Fitted(classifier, (intents, policy),
                       frozenset({*ESCALATING_INTENTS, *(t.name for t in topics)}))

    async def verdict(self, text: str, vector: Sequence[float], topics: Sequence[PolicyTopic],
                      excluded: frozenset[str] = frozenset()) -> SemanticVerdict:
        """How likely the turn (its text and its embedding) needs a person, and which label;
        `excluded` labels (named only in the negative) count for nothing."""
        fitted = await self._classifier(topics)
        query = _unit([vector])[0]
        probabilities = {label: (0.0 if label in excluded else p)
                         for label, p in fitted.classifier.probabilities(query, text).items()}
        escalating = {label: p for label, p in probabilities.items() if label in fitted.escalating}
        if not escalating:
            return SemanticVerdict(None, None, 0.0, probabilities.get(REJECTION, 0.0))
        label = max(escalating, key=escalating.__getitem__)
        nearest = next((found for index in fitted.indexes
                        if (found := index.nearest(query, label)) is not None), None)
        return SemanticVerdict(label, nearest[0] if nearest else None,
                               sum(escalating.values()), probabilities.get(REJECTION, 0.0))


def _retrieve(task: asyncio.Future[object]) -> None:
    """A preparation nobody waits for any more must not log "exception never retrieved"."""
    if not task.cancelled():
        task.exception()


@dataclass(frozen=True, slots=True)
class _Fitted:
    classifier: LinearClassifier
    indexes: tuple[ExampleIndex, ...]  # where the nearest example of a label is looked for
    escalating: frozenset[str]
