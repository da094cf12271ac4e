"""Deciding a turn (PRODUCT.md §4 steps 4–6): the state gates, the customer's intent, the
client's escalation policy, and what to do: answer, small talk, escalate, mute, opt out, forward.
Pure of writes: `core.pipeline` applies the decision in one transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from core import rating
from core.answers import Answerer
from core.classifier import QUESTION, by_llm, by_rules, by_similarity
from core.flood import DEFAULT_LIMITS, TurnLimits, turn_text
from core.hours import WorkingHours, schedule_for
from core.hours_text import when_text
from core.intents import Classification, cancels_request, classify_by_rules, is_bot_question
from core.language import DEFAULT_LANGUAGE
from core.models import (
    Branch,
    Client,
    Conversation,
    Customer,
    HistoryLine,
    InboundMessage,
    Intent,
    State,
    TriggerType,
    has_desk,
)
from core.policy import PolicyTopic, effective_policy
from core.ports import AnswerRequest, LanguageModel, Tenants
from core.semantic import SemanticMatcher
from core.texts import customer_text
from core.voice import is_voice

log = logging.getLogger(__name__)

PENDING_NOTICE_INTERVAL = timedelta(minutes=10)


class Act(StrEnum):
    ANSWER = "answer"
    SMALL_TALK = "small_talk"
    ESCALATE = "escalate"
    NO_DESK = "no_desk"  # a person was needed but the client has no Telegram desk
    MUTE = "mute"
    OPT_OUT = "opt_out"  # a rejection while pending: the handover is cancelled
    FORWARD = "forward"  # pending / manager_active: mirrored to the manager, no bot reply
    SILENT = "silent"  # muted or suspended: stored only
    GIVE_UP = "give_up"  # the turn failed for good: stored, and the fallback text once
    RATE = "rate"  # the customer's 1–5 for a manager's help (core.rating)


@dataclass(frozen=True, slots=True)
class TurnContext:
    client: Client
    branch: Branch | None
    conversation: Conversation
    customer: Customer
    history: Sequence[HistoryLine]
    now: datetime
    language: str = DEFAULT_LANGUAGE  # what the customer writes in (core.language)
    limits: TurnLimits = DEFAULT_LIMITS  # the client's flood shield (core.flood)

    @property
    def desk_enabled(self) -> bool:
        return has_desk(self.client, self.branch)

    @property
    def hours(self) -> WorkingHours | None:
        return schedule_for(self.client.settings, self.branch)

    def text(self, key: str, **values: str) -> str:
        """A customer text in the customer's language (without an offer of a person when there is
        no desk to take it)."""
        return customer_text(self.client, key, language=self.language, desk=self.desk_enabled,
                             **values)

    def desk_text(self, key: str) -> str:
        """"A manager will answer" (`escalated`, `pending_notice`); outside working hours its
        `_closed` form, which says when."""
        hours = self.hours
        if hours is None or hours.is_open(self.now):
            return self.text(key)
        return self.text(f"{key}_closed", when=when_text(hours, self.now, self.language))


@dataclass(frozen=True, slots=True)
class Decision:
    act: Act
    intent: Intent | None = None
    trigger_type: TriggerType | None = None
    trigger_value: str | None = None
    reply: str | None = None
    answer_source: str | None = None
    degraded: tuple[str, ...] = ()
    rating: int | None = None
    # What decided an escalation: {"source": "rules" | "semantic" | "llm", "matched", "score"}.
    detail: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class _Classified:
    classification: Classification
    vector: list[float] | None = None  # the turn's embedding, when it was computed
    degraded: tuple[str, ...] = ()


class Decider:
    """`semantic`: the example matcher of the embedder the knowledge base uses; the turn is
    embedded once (by the knowledge base) for it and for retrieval. Without it, or for an
    embedder with no calibrated thresholds, rules and the LLM decide alone."""

    def __init__(self, tenants: Tenants, answerer: Answerer, classifier: LanguageModel | None,
                 semantic: SemanticMatcher | None = None) -> None:
        self._tenants = tenants
        self._answerer = answerer
        self._classifier = classifier
        self._knowledge = answerer.knowledge
        self._semantic: SemanticMatcher | None = None
        if semantic is not None:
            self.use_semantic(semantic)

    def use_semantic(self, semantic: SemanticMatcher) -> None:
        """Decide by similarity too, from now on (the matcher comes with the embedder, which a
        serving gateway may open after it has started answering)."""
        if self._knowledge is None:
            return
        if semantic.thresholds is None:
            log.warning("no calibrated decision thresholds for this embedder: escalations are "
                        "decided by rules (and the LLM) only; run `eval decisions --calibrate`",
                        extra={"embedder": semantic.embedder.name})
            return
        self._semantic = semantic

    async def decide(self, ctx: TurnContext, messages: Sequence[InboundMessage]) -> Decision:
        """Rules, the embedder and the LLM read at most `max_turn_chars` of the turn."""
        text = turn_text(messages, ctx.limits.max_turn_chars)
        conv = ctx.conversation
        client = ctx.client
        if client.suspended:
            return Decision(Act.SILENT)
        if conv.state in (State.PENDING, State.MANAGER_ACTIVE):
            return self._while_with_manager(ctx, text)
        if rating.awaiting(conv, ctx.now) and (score := rating.parse_rating(text)) is not None:
            return Decision(Act.RATE, Intent.OTHER, reply=ctx.text("rating_thanks"), rating=score)
        muted = conv.bot_muted_until is not None and conv.bot_muted_until > ctx.now
        if muted:
            # A muted bot stays silent, except that a customer asking for a person reaches one.
            ruled = classify_by_rules(text) if text else None
            if ruled is None or ruled.intent != Intent.HUMAN_REQUEST:
                return Decision(Act.SILENT)
        if not text:
            template = "voice_received" if any(is_voice(m) for m in messages) else "media_received"
            return Decision(Act.SMALL_TALK, Intent.OTHER, reply=ctx.text(template))
        if is_bot_question(text):
            return Decision(Act.SMALL_TALK, Intent.QUESTION, reply=ctx.text("bot_identity"))

        topics = effective_policy(client.settings.escalation_policy)
        turn = await self._classify(ctx, text, topics)
        classification = turn.classification
        intent = classification.intent
        if classification.topic is not None:
            return self._escalation(ctx, intent, TriggerType.POLICY, classification)
        if intent in (Intent.HUMAN_REQUEST, Intent.FRUSTRATION):
            return self._escalation(ctx, intent, TriggerType.INTENT, classification)
        if intent == Intent.REJECTION:
            return Decision(Act.MUTE, intent, reply=ctx.text("muted"))
        if intent == Intent.GREETING:
            return Decision(Act.SMALL_TALK, intent, reply=ctx.text("greeting"))
        if intent == Intent.THANKS:
            return Decision(Act.SMALL_TALK, intent, reply=ctx.text("thanks"))
        answer = await self._answerer.answer(AnswerRequest(
            client=client, system_prompt=await self._tenants.system_prompt(client.id),
            question=text, history=ctx.history,
            knowledge_tag=ctx.branch.knowledge_tag if ctx.branch else None,
            language=ctx.language,
            query_vector=turn.vector,
            desk=ctx.desk_enabled,
        ))
        return Decision(Act.ANSWER, intent, reply=answer.text, answer_source=answer.source,
                        degraded=(*turn.degraded, *answer.degraded))

    @staticmethod
    def _while_with_manager(ctx: TurnContext, text: str) -> Decision:
        """pending / manager_active: the manager answers; the bot only forwards, cancels a pending
        request the customer no longer wants, and says "a manager will answer" now and then."""
        conv = ctx.conversation
        ruled = classify_by_rules(text) if text else None
        if conv.state == State.PENDING and text and (
            cancels_request(text) or (ruled is not None and ruled.intent == Intent.REJECTION)
        ):
            return Decision(Act.OPT_OUT, Intent.REJECTION,
                            reply=ctx.text("opt_out_pending"))
        notice = None
        if conv.state == State.PENDING and (
            conv.pending_notice_at is None or ctx.now - conv.pending_notice_at >= PENDING_NOTICE_INTERVAL
        ):
            notice = ctx.desk_text("pending_notice")
        return Decision(Act.FORWARD, ruled.intent if ruled else None, reply=notice)

    @staticmethod
    def _escalation(ctx: TurnContext, intent: Intent, trigger: TriggerType,
                    classification: Classification) -> Decision:
        if classification.source == "llm" and classification.topic is None:
            trigger = TriggerType.LLM
        value = classification.topic or intent.value
        detail = {"source": classification.source,
                  **({"matched": classification.matched} if classification.matched else {}),
                  **({"score": round(classification.score, 3)} if classification.score else {})}
        if not ctx.desk_enabled:
            return Decision(Act.NO_DESK, intent, trigger, value, detail=detail,
                            reply=ctx.text("no_desk"))
        return Decision(Act.ESCALATE, intent, trigger, value, detail=detail,
                        reply=ctx.desk_text("escalated"))

    async def _classify(self, ctx: TurnContext, text: str,
                        topics: Sequence[PolicyTopic]) -> _Classified:
        """Rules for the obvious cases and for negation; then the semantic classifier (the turn
        embedded once, the vector handed on to retrieval), which also checks a policy topic a
        rule named; then the LLM when configured, unless the classifier is clear that the turn
        is a question (the turn embedded for retrieval meanwhile); else a question for the
        answer stage."""
        stage = by_rules(text, topics)
        semantic = self._semantic  # set only with thresholds and a knowledge base (use_semantic)
        # An escalation the rules found is checked by the classifier; their other verdicts stand.
        if stage.decided is not None and (semantic is None or not stage.escalates):
            return _Classified(stage.decided)
        if semantic is not None and not await semantic.ready(topics):
            if stage.decided is not None:
                return _Classified(stage.decided)
            semantic = None
        vector: list[float] | None = None
        degraded: tuple[str, ...] = ()
        if semantic is not None and semantic.thresholds is not None and self._knowledge:
            try:
                vector = await self._knowledge.embed_query(text)
                thresholds = semantic.thresholds.shifted(ctx.client.settings.policy_threshold_offset)
                reading = await by_similarity(semantic, text, vector, topics, stage, thresholds,
                                              llm_follows=self._classifier is not None)
                if reading.found is not None:
                    return _Classified(reading.found, vector)
                if reading.clear:  # surely a question: the LLM is not asked
                    return _Classified(QUESTION, vector)
            except Exception as exc:  # the rules' answer stands; the answer stage retries the search
                log.warning("semantic decision unavailable: %s", exc)
                if stage.decided is not None:
                    return _Classified(stage.decided)
                vector, degraded = None, ("embedding_error",)
        if self._classifier is None:
            return _Classified(QUESTION, vector, degraded)
        embedding = self._embed_meanwhile(text) if vector is None and not degraded else None
        try:
            found = await by_llm(self._classifier, text, topics)
            if embedding is not None:
                vector = await embedding  # unused when the turn is not answered
        finally:
            if embedding is not None:
                embedding.cancel()  # the turn itself cancelled (done: nothing happens)
        return _Classified(found or QUESTION, vector, degraded)

    def _embed_meanwhile(self, text: str) -> asyncio.Task[list[float] | None] | None:
        """The turn's embedding started while the LLM classifies it: most turns are questions,
        and their search then waits for no embedding call (10-300 ms with TEI or OpenAI) after
        the classification call."""
        knowledge = self._knowledge
        if knowledge is None:
            return None

        async def embedded() -> list[float] | None:
            try:
                return await knowledge.embed_query(text)
            except Exception as exc:  # the answer stage embeds again and degrades as it does
                log.info("embedding alongside the llm classifier failed: %s", exc)
                return None

        return asyncio.ensure_future(embedded())
