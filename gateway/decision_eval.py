"""Decision quality on the labelled set (`knowledge/eval/decisions/*.yaml`, guide in GUIDE.md):
every message goes through the production Decider (default policy, no LLM, the configured
embedder with its calibrated thresholds) as the first message of a conversation with the bot,
and the act it decides is compared with the label.

The semantic classifier is fitted to the policy's examples and the dev split (as in production),
so figures on `dev` are training figures; `--calibrate` reports cross-validated ones
(`gateway.decision_calibration`), and `held-out` is what no choice was made on.

`python -m gateway eval decisions [--split dev|held-out] [--json] [--calibrate]`; the floors of
the held-out split are asserted by tests/decisions/test_eval_floors.py."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from core.answers import Answerer
from core.calibration import DecisionThresholds
from core.decision import Act, Decider, Decision, TurnContext
from core.models import Client, ClientSettings, Conversation, Customer, InboundMessage, Intent, State
from core.policy import DEFAULT_POLICY
from core.ports import Embedder
from core.semantic import SHARED_VECTORS, SemanticMatcher
from gateway.knowledge_eval import scratch_knowledge

REPOSITORY = Path(__file__).resolve().parent.parent
DECISION_SET = REPOSITORY / "knowledge" / "eval" / "decisions"
# The bundled model's vectors of the default policy's examples, the intents' examples and this
# corpus (`storage.vector_archive`, keyed by a digest of the texts and the model's name): renew
# with `python -m gateway eval decisions --ship-example-vectors` after changing any of them.
SHIPPED_EXAMPLE_VECTORS = DECISION_SET / "example-vectors"
SPLITS = ("dev", "held-out")
LABELS = ("reply", "escalate", "mute")
EMBED_BATCH = 64
_REPLY_KINDS = {"greeting": "greeting", "thanks": "thanks", "bot_question": "bot_question"}


@dataclass(frozen=True, slots=True)
class Labelled:
    id: str
    text: str
    label: str  # reply | escalate | mute
    topics: tuple[str, ...]  # the topic first, then the other acceptable ones ("also")
    kind: str
    style: str
    split: str


@dataclass(frozen=True, slots=True)
class Outcome:
    message: Labelled
    label: str
    topic: str | None
    detail: dict[str, Any] | None

    @property
    def correct(self) -> bool:
        if self.label != self.message.label:
            return False
        return self.label != "escalate" or self.topic in self.message.topics


def load_set(split: str | None = None, directory: Path = DECISION_SET) -> list[Labelled]:
    """The labelled messages of every business file, of one split or all; a malformed item is
    refused with its id."""
    items: list[Labelled] = []
    for path in sorted(directory.glob("*.yaml")):
        for raw in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            item = _labelled(raw, path.name)
            if split is None or item.split == split:
                items.append(item)
    return items


def corpus_label(message: Labelled) -> str:
    """The label a message teaches the semantic classifier: its topic, "rejection" for a
    request to stop, and for the bot's own cases the intent (greeting, thanks, a question about
    the bot) or "question"."""
    if message.label == "escalate":
        return message.topics[0]
    if message.label == "mute":
        return Intent.REJECTION.value
    return _REPLY_KINDS.get(message.kind, Intent.QUESTION.value)


def decision_corpus(directory: Path = DECISION_SET) -> list[tuple[str, str]]:
    """The dev split as (label, text): what the production classifier is fitted to beside the
    policy's examples (the held-out split never is)."""
    return [(corpus_label(m), m.text) for m in load_set("dev", directory)]


def _labelled(raw: Any, source: str) -> Labelled:
    if not isinstance(raw, dict) or not raw.get("id") or not isinstance(raw.get("text"), str):
        raise ValueError(f"{source}: an item without an id or text: {str(raw)[:80]}")
    if raw.get("label") not in LABELS or raw.get("split") not in SPLITS:
        raise ValueError(f"{source}: {raw['id']}: label must be one of {LABELS}, split one of {SPLITS}")
    topics = (raw["topic"], *(raw.get("also") or ())) if raw["label"] == "escalate" else ()
    if raw["label"] == "escalate" and not raw.get("topic"):
        raise ValueError(f"{source}: {raw['id']}: an escalation needs a topic")
    return Labelled(str(raw["id"]), raw["text"], raw["label"], tuple(topics), str(raw.get("kind", "")),
                    str(raw.get("style", "")), raw["split"])


class PreloadedEmbedder:
    """The configured embedder, with the evaluation's messages embedded ahead in batches (as
    queries, the same call `KnowledgeBase.embed_query` makes); anything else is delegated."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._vectors: dict[str, list[float]] = {}
        self.name, self.dim, self.thresholds = embedder.name, embedder.dim, embedder.thresholds

    async def preload(self, texts: Sequence[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        for start in range(0, len(missing), EMBED_BATCH):
            batch = missing[start:start + EMBED_BATCH]
            self._vectors.update(zip(batch, await self._embedder.embed_queries(batch), strict=True))

    async def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        if all(t in self._vectors for t in texts):
            return [self._vectors[t] for t in texts]
        return await self._embedder.embed_queries(texts)

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return await self._embedder.embed_passages(texts)

    async def aclose(self) -> None:
        return None  # the caller owns the embedder


class _NoPrompts:
    """The only thing the Decider asks of the tenants here: no client prompt."""

    async def system_prompt(self, client_id: uuid.UUID) -> None:
        return None


def _context(now: datetime) -> TurnContext:
    """A client on the default policy with a Telegram desk, and a new conversation."""
    client = Client(uuid.uuid4(), "eval", "Eval", "active",
                    ClientSettings(telegram_bot_token="eval", telegram_chat_id=-1))
    conversation = Conversation(uuid.uuid4(), client.id, uuid.uuid4(), None, "whatsapp",
                                State.BOT_ACTIVE, None, 0, None, None, None, None)
    customer = Customer(uuid.uuid4(), client.id, "eval@s.whatsapp.net", None, None)
    return TurnContext(client, None, conversation, customer, (), now)


def outcome_of(message: Labelled, decision: Decision) -> Outcome:
    if decision.act in (Act.ESCALATE, Act.NO_DESK):
        topic = "complaint" if decision.trigger_value == "frustration" else decision.trigger_value
        return Outcome(message, "escalate", topic, decision.detail)
    label = "mute" if decision.act == Act.MUTE else "reply"
    return Outcome(message, label, None, decision.detail)


@asynccontextmanager
async def _decider(embedder: Embedder, texts: Sequence[str], thresholds: DecisionThresholds | None,
                   corpus: Sequence[tuple[str, str]]) -> AsyncIterator[Decider]:
    """The Decider as production wires it: the knowledge base embeds the turn (one call), the
    semantic layer and retrieval share the vector. The knowledge base is empty: the answers do
    not matter here, only who answers."""
    preloaded = embedder if isinstance(embedder, PreloadedEmbedder) else PreloadedEmbedder(embedder)
    await preloaded.preload(texts)
    async with scratch_knowledge(preloaded) as kb:
        matcher = SemanticMatcher(preloaded, SHARED_VECTORS, thresholds, corpus)
        if matcher.thresholds is not None:  # measured ready, not while it is being prepared
            await matcher.prepare(DEFAULT_POLICY)
        yield Decider(_NoPrompts(), Answerer(kb, None), None, matcher)  # type: ignore[arg-type]


async def run_decisions(embedder: Embedder, messages: Sequence[Labelled],
                        thresholds: DecisionThresholds | None = None,
                        corpus: Sequence[tuple[str, str]] | None = None) -> list[Outcome]:
    """Each message as the first of a new conversation with the bot; the classifier fitted to
    `corpus` (by default the dev split, as in production)."""
    context = _context(datetime.now(UTC))
    corpus = decision_corpus() if corpus is None else corpus
    async with _decider(embedder, [m.text for m in messages], thresholds, corpus) as decider:
        return [outcome_of(m, await decider.decide(context, [InboundMessage(m.id, "eval", m.text)]))
                for m in messages]
