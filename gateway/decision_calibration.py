"""Choosing the semantic thresholds of an embedder on the dev split (`eval decisions
--calibrate`): the classifier is fitted to the examples and the corpus, so its probabilities on
the corpus's own messages would flatter it. Each message is scored out of fold instead (5
folds; the classifier fitted without the message's fold), and every candidate pair of
thresholds is run through the decision as the Decider makes it: the rules first, then
`core.classifier.by_similarity` with the message's out-of-fold verdict. The pair kept finds the
most escalations while escalating at most FALSE_ESCALATIONS of the reply messages; ties go to
the stricter pair. Then `clear` (when the LLM classifier is worth asking) on the same verdicts:
the highest on CLEAR_GRID under which at most MISSED_BELOW_CLEAR of the messages that need a
person or a mute would skip the LLM; the gain is the share of the reply messages the LLM was
asked about that skip it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from core.calibration import DecisionThresholds
from core.classifier import RuleStage, SemanticReading, by_rules, by_similarity
from core.intents import Classification, is_bot_question
from core.models import Intent
from core.policy import DEFAULT_POLICY, PolicyTopic
from core.ports import Embedder
from core.semantic import SHARED_VECTORS, SemanticMatcher, SemanticVerdict
from gateway.decision_eval import Labelled, PreloadedEmbedder, corpus_label

FOLDS = 5
# Of the dev split's reply messages, out of fold. The floor is 3 %; round 3's fresh messages
# came out 2.4 points above their out-of-fold figure, so the calibration keeps that much margin.
FALSE_ESCALATIONS = 0.01
ESCALATE_GRID = np.round(np.arange(0.40, 0.951, 0.025), 3)
OVERRULE_GRID = np.round(np.arange(0.0, 0.61, 0.05), 3)
# Of the dev split's messages that need a person or a mute, out of fold: the share that may be
# answered without the LLM classifier being asked (which might have escalated or muted them).
MISSED_BELOW_CLEAR = 0.005
CLEAR_GRID = np.round(np.arange(0.0, 0.501, 0.005), 3)


@dataclass(frozen=True, slots=True)
class Calibration:
    thresholds: DecisionThresholds
    recall: float  # escalation recall, out of fold
    false_escalations: float  # share of reply messages escalated, out of fold
    false_mutes: int  # reply or escalation messages muted, out of fold
    # With `thresholds.clear`, out of fold: the share of the messages that need a person or a
    # mute that skip the LLM classifier, and of the reply messages it was asked about that do.
    missed_without_llm: float = 0.0
    replies_without_llm: float = 0.0


@dataclass(frozen=True, slots=True)
class _Scored:
    message: Labelled
    stage: RuleStage
    verdict: SemanticVerdict | None  # None: the rules settle it whatever the thresholds


class _Verdict:
    """A matcher that answers with a verdict already computed (the message's out-of-fold one)."""

    def __init__(self, verdict: SemanticVerdict) -> None:
        self._verdict = verdict

    async def verdict(self, text: str, vector: Sequence[float], topics: Sequence[PolicyTopic],
                      excluded: frozenset[str] = frozenset()) -> SemanticVerdict:
        return self._verdict


def fold_of(count: int) -> np.ndarray:
    """A fixed random fold per message (the same on every run)."""
    folds = np.empty(count, dtype=int)
    folds[np.random.default_rng(0).permutation(count)] = np.arange(count) % FOLDS
    return folds


async def calibrate(embedder: Embedder, messages: Sequence[Labelled]) -> Calibration:
    preloaded = embedder if isinstance(embedder, PreloadedEmbedder) else PreloadedEmbedder(embedder)
    await preloaded.preload([m.text for m in messages])
    scored = await _out_of_fold(preloaded, messages)
    best: tuple[float, float, Calibration] | None = None
    for escalate in ESCALATE_GRID:
        for overrule in OVERRULE_GRID:
            thresholds = DecisionThresholds(float(escalate), float(overrule))
            found = await _figures(scored, thresholds)
            if found.false_escalations > FALSE_ESCALATIONS:
                continue
            strictness = float(escalate + overrule)
            if best is None or (found.recall, strictness) > best[:2]:
                best = (found.recall, strictness, found)
    if best is None:
        raise ValueError("no thresholds keep the false escalations under "
                         f"{FALSE_ESCALATIONS:.0%} of the dev split's reply messages")
    return await _with_clear(scored, best[2])


async def _with_clear(scored: Sequence[_Scored], chosen: Calibration) -> Calibration:
    """`chosen` with the highest `clear` that lets at most MISSED_BELOW_CLEAR of the messages
    needing a person or a mute skip the LLM (more skip as it rises: the first over is the end)."""
    needing = sum(s.message.label != "reply" for s in scored)
    asked = [s for s in scored if s.verdict is not None
             and (await _reading(s, chosen.thresholds)).found is None]
    replies = sum(s.message.label == "reply" for s in asked)
    best = chosen
    for clear in CLEAR_GRID:
        thresholds = replace(chosen.thresholds, clear=float(clear))
        skipping = [s for s in asked if (await _reading(s, thresholds)).clear]
        missed = sum(s.message.label != "reply" for s in skipping) / max(needing, 1)
        if missed > MISSED_BELOW_CLEAR:
            break
        best = replace(chosen, thresholds=thresholds, missed_without_llm=round(missed, 4),
                       replies_without_llm=round(sum(s.message.label == "reply" for s in skipping)
                                                 / max(replies, 1), 4))
    return best


async def _out_of_fold(embedder: PreloadedEmbedder, messages: Sequence[Labelled]) -> list[_Scored]:
    folds = fold_of(len(messages))
    scored: dict[int, _Scored] = {}
    for fold in range(FOLDS):
        corpus = [(corpus_label(m), m.text) for m, f in zip(messages, folds, strict=True) if f != fold]
        matcher = SemanticMatcher(embedder, SHARED_VECTORS, DecisionThresholds(1.0, 0.0), corpus)
        for i in np.flatnonzero(folds == fold):
            message = messages[i]
            stage = by_rules(message.text, DEFAULT_POLICY)
            verdict = None
            if not is_bot_question(message.text) and (stage.decided is None or stage.escalates):
                vector = (await embedder.embed_queries([message.text]))[0]
                verdict = await matcher.verdict(message.text, vector, DEFAULT_POLICY, stage.excluded)
            scored[int(i)] = _Scored(message, stage, verdict)
    return [scored[i] for i in range(len(messages))]


async def _figures(scored: Sequence[_Scored], thresholds: DecisionThresholds) -> Calibration:
    said = [await _decided(s, thresholds) for s in scored]
    escalations = [label == "escalate" for label in said]
    replies = [s.message.label == "reply" for s in scored]
    wanted = [s.message.label == "escalate" for s in scored]
    recall = sum(e and w for e, w in zip(escalations, wanted, strict=True)) / max(sum(wanted), 1)
    false = sum(e and r for e, r in zip(escalations, replies, strict=True)) / max(sum(replies), 1)
    false_mutes = sum(label == "mute" and s.message.label != "mute"
                      for label, s in zip(said, scored, strict=True))
    return Calibration(thresholds, round(recall, 4), round(false, 4), false_mutes)


async def _decided(scored: _Scored, thresholds: DecisionThresholds) -> str:
    """reply | escalate | mute, as the Decider would act on this message."""
    found: Classification | None = scored.stage.decided
    if scored.verdict is not None:
        found = (await _reading(scored, thresholds)).found
    if found is None:
        return "reply"
    if found.topic is not None or found.intent in (Intent.HUMAN_REQUEST, Intent.FRUSTRATION):
        return "escalate"
    return "mute" if found.intent == Intent.REJECTION else "reply"


async def _reading(scored: _Scored, thresholds: DecisionThresholds) -> SemanticReading:
    """What the semantic stage of the Decider makes of a message read by the classifier."""
    assert scored.verdict is not None
    return await by_similarity(_Verdict(scored.verdict), scored.message.text, [0.0],  # type: ignore[arg-type]
                               DEFAULT_POLICY, scored.stage, thresholds)
