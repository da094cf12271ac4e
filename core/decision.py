"""Deciding a turn (PRODUCT.md §4 steps 4–6): the state gates, the customer's intent, the
client's escalation policy, and what to do: answer, small talk, escalate, mute, opt out, forward.
Pure of writes: `core.pipeline` applies the decision in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core import rating
from core.answers import Answerer
from core.hours import WorkingHours, schedule_for
from core.hours_text import when_text
from core.intents import (
    Classification,
    classify_by_rules,
    classify_frustration,
    declines_manager,
    is_bot_question,
)
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
from core.policy import effective_policy, match_policy
from core.ports import AnswerRequest, LanguageModel, Tenants
from core.texts import customer_text

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

    @property
    def desk_enabled(self) -> bool:
        return has_desk(self.client, self.branch)

    @property
    def hours(self) -> WorkingHours | None:
        return schedule_for(self.client.settings, self.branch)

    def text(self, key: str, **values: str) -> str:
        """A customer text in the customer's language."""
        return customer_text(self.client, key, language=self.language, **values)

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


@dataclass(frozen=True, slots=True)
class _PolicyHit(Classification):
    """The text is about one of the client's escalation-policy topics."""

    topic: str = ""


class Decider:
    def __init__(self, tenants: Tenants, answerer: Answerer, classifier: LanguageModel | None) -> None:
        self._tenants = tenants
        self._answerer = answerer
        self._classifier = classifier

    async def decide(self, ctx: TurnContext, messages: Sequence[InboundMessage]) -> Decision:
        text = "\n".join(m.text for m in messages if m.text).strip()
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
            return Decision(Act.SMALL_TALK, Intent.OTHER, reply=ctx.text("media_received"))
        if is_bot_question(text):
            return Decision(Act.SMALL_TALK, Intent.QUESTION, reply=ctx.text("bot_identity"))

        classification = await self._classify(ctx, text)
        intent = classification.intent
        if isinstance(classification, _PolicyHit):
            return self._escalation(ctx, intent, TriggerType.POLICY, classification.topic)
        if intent in (Intent.HUMAN_REQUEST, Intent.FRUSTRATION):
            trigger = TriggerType.LLM if classification.source == "llm" else TriggerType.INTENT
            return self._escalation(ctx, intent, trigger, intent.value)
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
        ))
        return Decision(Act.ANSWER, intent, reply=answer.text, answer_source=answer.source,
                        degraded=answer.degraded)

    @staticmethod
    def _while_with_manager(ctx: TurnContext, text: str) -> Decision:
        """pending / manager_active: the manager answers; the bot only forwards, cancels a pending
        request the customer no longer wants, and says "a manager will answer" now and then."""
        conv = ctx.conversation
        ruled = classify_by_rules(text) if text else None
        if conv.state == State.PENDING and text and (
            declines_manager(text) or (ruled is not None and ruled.intent == Intent.REJECTION)
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
                    value: str | None) -> Decision:
        if not ctx.desk_enabled:
            return Decision(Act.NO_DESK, intent, trigger, value, reply=ctx.text("no_desk"))
        return Decision(Act.ESCALATE, intent, trigger, value, reply=ctx.desk_text("escalated"))

    async def _classify(self, ctx: TurnContext, text: str) -> Classification:
        """Rules for the obvious cases; then the client's escalation policy (so that a complaint
        is reported as the `complaint` topic); then frustration; then the LLM when configured."""
        if ruled := classify_by_rules(text):
            return ruled
        topics = effective_policy(ctx.client.settings.escalation_policy)
        if hit := match_policy(topics, text):
            return _PolicyHit(Intent.QUESTION, "rules", hit[1], topic=hit[0].name)
        if ruled := classify_frustration(text):
            return ruled
        if self._classifier is not None:
            result = await self._classifier.classify(text, [(t.name, t.description) for t in topics])
            if result.ok and result.value is not None:
                intent, topic = result.value
                if topic is not None:
                    return _PolicyHit(intent, "llm", None, topic=topic)
                return Classification(intent, "llm")
        return Classification(Intent.QUESTION, "fallback")
