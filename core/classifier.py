"""Classifying a turn (PRODUCT.md §4 step 5): rules for the unambiguous cases and for negation,
then the semantic layer (the turn's one embedding against example messages), then the LLM when
one is configured and the semantic layer is unsure. Every result says what decided it: the rule
pattern, the example and its cosine, or the LLM."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from core.calibration import DecisionThresholds
from core.guards import asks_for_information, just_asking
from core.intents import (
    FRUSTRATION,
    GREETING,
    HUMAN_REQUEST,
    THANKS,
    Classification,
    declines_manager,
    first_affirmed,
    is_bot_question,
    only,
    rejects_the_bot,
)
from core.matching import normalize
from core.models import Intent
from core.policy import PolicyTopic, match_policy
from core.ports import LanguageModel
from core.semantic import SemanticMatcher, SemanticVerdict

log = logging.getLogger(__name__)

QUESTION = Classification(Intent.QUESTION, "fallback")


@dataclass(frozen=True, slots=True)
class RuleStage:
    """What the rules settled, and what they tell the semantic layer: labels it must not pick
    (named only in the negative) and whether the customer is "just asking" (says so, asks for
    a price, or says what they do not need): then similarity alone escalates nothing."""

    decided: Classification | None = None
    excluded: frozenset[str] = frozenset()
    just_asking: bool = False

    @property
    def escalates(self) -> bool:
        """The rules would hand the turn to a person (a topic, a request for one, frustration):
        the semantic classifier checks that."""
        return self.decided is not None and (
            self.decided.topic is not None
            or self.decided.intent in (Intent.HUMAN_REQUEST, Intent.FRUSTRATION))


def by_rules(text: str, topics: Sequence[PolicyTopic]) -> RuleStage:
    """Rejection, a bare greeting or thanks, a policy topic named in the affirmative (unless the
    message asks for a price or says it is just asking: "сколько стоит массаж для беременных?"),
    a request for a person, frustration."""
    words = normalize(text).split()
    if not words or is_bot_question(text):
        return RuleStage()
    if rejection := rejects_the_bot(words):
        return RuleStage(Classification(Intent.REJECTION, "rules", rejection))
    for intent, patterns in ((Intent.GREETING, GREETING), (Intent.THANKS, THANKS)):
        if matched := only(patterns, words):
            return RuleStage(Classification(intent, "rules", matched))
    policy = match_policy(topics, words)
    # A price question outside the topic's own words ("сколько стоит" may be a client's topic).
    unmatched = [w for i, w in enumerate(words)
                 if policy.hit is None or not policy.hit.start <= i < policy.hit.end]
    says_just_asking = just_asking(words)
    casual = says_just_asking or asks_for_information(unmatched, "?" in text)
    if policy.topic is not None and not casual:
        return RuleStage(Classification(Intent.QUESTION, "rules", policy.matched,
                                        topic=policy.topic.name))
    if hit := first_affirmed(HUMAN_REQUEST, words, reports=True):
        return RuleStage(Classification(Intent.HUMAN_REQUEST, "rules", hit.pattern))
    # "вы издеваетесь? опять прайс присылаете": a price word does not soften frustration.
    if not says_just_asking and (hit := first_affirmed(FRUSTRATION, words)):
        return RuleStage(Classification(Intent.FRUSTRATION, "rules", hit.pattern))
    declined = policy.declined | ({Intent.HUMAN_REQUEST.value} if declines_manager(text) else set())
    # "Менеджер не нужен, просто…", "шағым емес, …": who says what they do not need is asking.
    return RuleStage(excluded=frozenset(declined), just_asking=casual or bool(declined))


@dataclass(frozen=True, slots=True)
class SemanticReading:
    """What the classifier made of a turn: what it settles (None: nothing), and, when it
    settles nothing, whether the turn is so surely a message the bot answers that the LLM
    classifier need not be asked (`DecisionThresholds.clear`)."""

    found: Classification | None
    clear: bool = False


async def by_similarity(matcher: SemanticMatcher, text: str, vector: Sequence[float],
                        topics: Sequence[PolicyTopic], stage: RuleStage,
                        thresholds: DecisionThresholds, *,
                        llm_follows: bool = True) -> SemanticReading:
    """What the classifier settles. An escalation the rules found (a topic, a request for a
    person, frustration) stands unless the message reads as something the bot answers
    ("оплата за снятие отдельно или в цене?", "администратор вчера была очень вежливая":
    its probability of needing a person under `overrule`); otherwise an escalation when that
    probability reaches `escalate`, a request to stop at `mute`. A message the rules call "just
    asking" is never escalated by similarity alone, but is read too when an LLM classifier
    would be asked next (`llm_follows`): it skips the LLM only when the classifier is clear
    about it."""
    checks_a_rule = stage.escalates and stage.decided is not None
    if stage.just_asking and not checks_a_rule and not llm_follows:
        return SemanticReading(None)
    verdict = await matcher.verdict(text, vector, topics, stage.excluded)
    if checks_a_rule:
        if verdict.escalation >= thresholds.overrule:
            return SemanticReading(stage.decided)
        log.info("a rule's escalation overruled: the message reads as a question",
                 extra={"topic": stage.decided.topic or stage.decided.intent.value,
                        "matched": stage.decided.matched,
                        "probability": round(verdict.escalation, 3)})
        return _unsettled(verdict, thresholds)
    if stage.just_asking:
        return _unsettled(verdict, thresholds)
    if verdict.label is not None and verdict.escalation >= thresholds.escalate:
        if verdict.label in (Intent.HUMAN_REQUEST, Intent.FRUSTRATION):
            return SemanticReading(Classification(Intent(verdict.label), "semantic", verdict.example,
                                                  score=verdict.escalation))
        return SemanticReading(Classification(Intent.QUESTION, "semantic", verdict.example,
                                              topic=verdict.label, score=verdict.escalation))
    if verdict.rejection >= thresholds.mute:
        return SemanticReading(Classification(Intent.REJECTION, "semantic", score=verdict.rejection))
    return _unsettled(verdict, thresholds)


def _unsettled(verdict: SemanticVerdict, thresholds: DecisionThresholds) -> SemanticReading:
    """Nothing settled; clear when needing a person and asking to stop, together, are under
    `clear` (one sum: either would make the LLM's answer matter)."""
    clear = thresholds.clear is not None and verdict.escalation + verdict.rejection < thresholds.clear
    return SemanticReading(None, clear)


# What the LLM classifier reads of a turn: the gist of a request is at its start.
CLASSIFY_CHARS = 2000


async def by_llm(llm: LanguageModel, text: str, topics: Sequence[PolicyTopic]) -> Classification | None:
    """The model's intent and topic, validated by the adapter; None (and the reason logged)
    when it fails in any way, so that the rules' answer stands."""
    result = await llm.classify(text[:CLASSIFY_CHARS], topics)
    if not result.ok or result.value is None:
        log.warning("llm classification failed; the rules decide",
                    extra={"error_code": result.error_code, "reason": result.error})
        return None
    intent, topic = result.value
    return Classification(intent, "llm", topic=topic)
