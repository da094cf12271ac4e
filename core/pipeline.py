"""The customer message pipeline (PRODUCT.md §4): one conversation turn — state gates, intent,
escalation policy, the act, and the reply — decided outside any transaction (the LLM may take
seconds) and applied in one transaction that re-checks the state it was decided on."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from core import rating
from core.answers import Answerer
from core.decision import Act, Decider, Decision, TurnContext
from core.desk import Actor, Desk
from core.escalation import escalate
from core.flood import DEFAULT_LIMITS, TurnLimits, turn_text
from core.language import turn_language
from core.models import Conversation, InboundMessage, Intent, Resolution, Role, State, TriggerType
from core.outbound import CustomerText, MediaForward, Mirror
from core.ports import (
    AnsweredTurn,
    AuditEntry,
    Clock,
    LanguageModel,
    NewMessage,
    Store,
    Tenants,
    Transcriber,
    TurnView,
    Tx,
)
from core.semantic import SemanticMatcher
from core.texts import DESK
from core.voice import mirror_line, transcribe_voices, unheard

log = logging.getLogger(__name__)

HISTORY_LINES = 20
MAX_DECISION_ROUNDS = 3
# The acts after which a flooding customer is told "please wait" (the bot answers them).
_SPEAKING = (Act.ANSWER, Act.SMALL_TALK)
# The acts that never change the conversation's state (no need to read it again after them).
_STATE_KEPT = (Act.ANSWER, Act.SMALL_TALK, Act.SILENT, Act.MUTE, Act.NO_DESK)


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    conversation_id: UUID
    act: Act
    state: State
    intent: Intent | None
    reply: str | None
    handover_id: UUID | None = None
    degraded: tuple[str, ...] = field(default=())
    client_slug: str = ""  # whose turn it was (metrics are per client)
    trigger_type: TriggerType | None = None  # what escalated it, and the topic or intent
    trigger_value: str | None = None


class _StateMoved(Exception):
    """The conversation changed while the turn was being decided: decide again."""


class TurnProcessor:
    def __init__(self, store: Store, tenants: Tenants, answerer: Answerer,
                 classifier: LanguageModel | None, desk: Desk, *,
                 semantic: SemanticMatcher | None = None, clock: Clock | None = None,
                 transcriber: Transcriber | None = None, limits: TurnLimits = DEFAULT_LIMITS
                 ) -> None:
        """`semantic`: the example matcher of the knowledge base's embedder (None: rules and
        the LLM decide alone). `clock`: what "now" is for a turn (working hours, mutes, rating
        windows); the database's own when None. Tests inject one. `transcriber`: speech to text
        for voice notes; without it they are forwarded or answered with "please write".
        `limits`: the flood shield's defaults (a client's own settings override them)."""
        self._store = store
        self._limits = limits
        self._tenants = tenants
        self._decider = Decider(tenants, answerer, classifier, semantic)
        self._desk = desk
        self._clock = clock
        self._transcriber = transcriber

    def use_semantic(self, semantic: SemanticMatcher) -> None:
        self._decider.use_semantic(semantic)

    async def process(self, conversation_id: UUID, messages: Sequence[InboundMessage], *,
                      deliver_reply: bool = True, flooding: bool = False,
                      view: TurnView | None = None) -> TurnOutcome:
        """Run one turn for the messages (already de-duplicated, in arrival order). With
        `deliver_reply` the reply is queued for WhatsApp in the same transaction; without it the
        caller delivers it (console chat, the legacy synchronous /message). Voice notes are
        transcribed first (once, whatever the rounds) and answered as text. `flooding`: the
        customer floods (core.flood): the first such turn of a flood says "please wait".
        `view`: the conversation as read with the turn's claim (with HISTORY_LINES lines), used
        for the first decision instead of reading it again, unless a transcription (seconds)
        comes first; the state it shows is re-checked when the decision is applied."""
        if self._transcriber is not None and any(unheard(m) for m in messages):
            view = None
        messages = await transcribe_voices(self._transcriber, messages)
        for _ in range(MAX_DECISION_ROUNDS):
            context = await self._load(conversation_id, messages, view)
            view = None  # a decision taken again reads the conversation again
            started = time.perf_counter()
            decision = await self._decider.decide(context, messages)
            log.info("turn decided", extra={"act": decision.act, "intent": decision.intent,
                                            "trigger": decision.trigger_value,
                                            "matched": decision.detail,
                                            "ms": round((time.perf_counter() - started) * 1000)})
            try:
                return await self._apply(context, decision, messages, deliver_reply,
                                         flooding=flooding)
            except _StateMoved:
                log.info("conversation changed during the turn; deciding again")
        raise RuntimeError("conversation kept changing during the turn")

    async def give_up(self, conversation_id: UUID, messages: Sequence[InboundMessage],
                      error: str) -> TurnOutcome:
        """A turn that failed for good still answers: the customer's messages are kept in the
        history, the customer gets the fallback text once (while the bot has the conversation),
        and the events are marked failed with the error."""
        context = await self._load(conversation_id, messages)
        with_bot = context.conversation.state == State.BOT_ACTIVE and not context.client.suspended
        decision = Decision(Act.GIVE_UP, reply=context.text("fallback") if with_bot else None)
        return await self._apply(context, decision, messages, True, failure=error)

    async def _now(self, tx: Tx) -> datetime:
        return self._clock.now() if self._clock else await tx.now()

    async def _load(self, conversation_id: UUID, messages: Sequence[InboundMessage],
                    view: TurnView | None = None) -> TurnContext:
        if view is None:
            async with self._store.reads() as tx:
                view = await tx.conversations.turn_view(conversation_id, HISTORY_LINES)
        if view is None:
            raise LookupError(f"conversation {conversation_id} does not exist")
        conversation, customer, history = view.conversation, view.customer, view.history
        now = self._clock.now() if self._clock else view.now
        client = await self._tenants.client(conversation.client_id)
        if client is None:
            raise LookupError(f"client of conversation {conversation_id} does not exist")
        branch = await self._tenants.branch(conversation.branch_id) if conversation.branch_id else None
        limits = self._limits.for_client(client.settings)
        language = turn_language(conversation.language, turn_text(messages, limits.max_turn_chars))
        return TurnContext(client, branch, conversation, customer, history, now, language, limits)

    async def _apply(self, ctx: TurnContext, decision: Decision, messages: Sequence[InboundMessage],
                     deliver_reply: bool, *, failure: str | None = None,
                     flooding: bool = False) -> TurnOutcome:
        answered = None if failure is not None or flooding else self._answered(
            ctx, decision, messages, deliver_reply)
        if answered is not None and await self._store.record_answer(answered):
            return self._outcome(ctx, decision, ctx.conversation.state)
        async with self._store.transaction() as tx:
            conv = await tx.conversations.get(ctx.conversation.id, for_update=True)
            assert conv is not None
            if failure is None and (conv.state, conv.bot_muted_until) != (
                    ctx.conversation.state, ctx.conversation.bot_muted_until):
                raise _StateMoved
            now = await self._now(tx)
            first_key = self._turn_key(conv.id, messages)
            await tx.messages.add_many(conv.id, Role.USER, _customer_lines(messages))
            fields: dict[str, object] = {"last_message_at": now, "language": ctx.language}
            if flooding and conv.flood_notice_at is None and decision.act in _SPEAKING:
                fields["flood_notice_at"] = now
                await self._say(tx, ctx, conv, ctx.text("flood_notice"), {"act": "flood_notice"},
                                messages, f"flood:{first_key}", deliver_reply)
            elif not flooding and conv.flood_notice_at is not None:
                fields["flood_notice_at"] = None  # the flood is over: the next one gets a note
            if conv.rating_handover_id is not None and decision.act != Act.RATE \
                    and not rating.keeps_question_open(decision.intent):
                fields.update(rating.CLOSED)  # the customer moved on: the question is closed
            await tx.conversations.update(conv.id, **fields)
            handover_id = await self._act(tx, ctx, conv, decision, messages, first_key, now)
            reply = decision.reply
            if reply:
                await self._say(tx, ctx, conv, reply, _reply_metadata(decision), messages,
                                f"reply:{first_key}", deliver_reply)
            claims = _claims(messages)
            if claims and failure is not None:
                await tx.inbox.mark_failed(claims, failure)
            elif claims:
                await tx.inbox.mark_done(claims)
            state = conv.state
            if decision.act not in _STATE_KEPT:
                final = await tx.conversations.get(conv.id)
                assert final is not None
                state = final.state
        return self._outcome(ctx, decision, state, handover_id)

    @staticmethod
    def _outcome(ctx: TurnContext, decision: Decision, state: State,
                 handover_id: UUID | None = None) -> TurnOutcome:
        return TurnOutcome(ctx.conversation.id, decision.act, state, decision.intent,
                           decision.reply, handover_id, decision.degraded, ctx.client.slug,
                           decision.trigger_type, decision.trigger_value)

    def _answered(self, ctx: TurnContext, decision: Decision, messages: Sequence[InboundMessage],
                  deliver_reply: bool) -> AnsweredTurn | None:
        """The turn as one write (`Store.record_answer`: one round trip instead of a
        transaction's eight) when all it does is answer: no flood notice to give or end, no
        rating question to close (the write checks both), no voice note to mirror."""
        conv = ctx.conversation
        if decision.act not in (Act.ANSWER, Act.SMALL_TALK) or conv.flood_notice_at is not None \
                or conv.rating_handover_id is not None \
                or (decision.act == Act.SMALL_TALK and any(unheard(m) for m in messages)):
            return None
        lines = [(Role.USER, line) for line in _customer_lines(messages)]
        delivery = None
        if decision.reply:
            lines.append((Role.ASSISTANT, NewMessage(decision.reply,
                                                     metadata=_reply_metadata(decision))))
            if deliver_reply and conv.channel == "whatsapp":
                delivery = (conv.client_id, _customer_text(ctx, conv, decision.reply, messages),
                            f"reply:{self._turn_key(conv.id, messages)}")
        return AnsweredTurn(
            conv, ctx.language, self._clock.now() if self._clock else None, tuple(lines),
            delivery, _claims(messages))

    @staticmethod
    async def _say(tx: Tx, ctx: TurnContext, conv: Conversation, text: str,
                   metadata: dict[str, object], messages: Sequence[InboundMessage], key: str,
                   deliver: bool) -> None:
        """A bot message: into the history, and queued for WhatsApp (unless the caller
        delivers it)."""
        await tx.messages.add(conv.id, Role.ASSISTANT, text, metadata=metadata)
        if deliver and conv.channel == "whatsapp":
            await tx.outbox.enqueue(conv.client_id, _customer_text(ctx, conv, text, messages), key)

    async def _act(self, tx: Tx, ctx: TurnContext, conv: Conversation, decision: Decision,
                   messages: Sequence[InboundMessage], key: str, now: datetime) -> UUID | None:
        text = "\n".join(m.text for m in messages if m.text).strip()
        if decision.act == Act.ESCALATE:
            escalation = await escalate(
                tx, conv.id, trigger_type=decision.trigger_type or TriggerType.INTENT,
                trigger_value=decision.trigger_value, user_message=text[:4000],
                trigger_detail=decision.detail)
            # The customer was just told a manager will answer: no "soon" notice right after it;
            # asking for a person also ends a mute.
            await tx.conversations.update(conv.id, pending_notice_at=now, bot_muted_until=None)
            return escalation.handover.id
        if decision.act == Act.NO_DESK:
            log.warning("a person was needed but the client has no Telegram desk",
                        extra={"trigger": decision.trigger_value})
            await tx.audit.record(conv.client_id, AuditEntry(
                actor_type="system", action="escalation_without_desk", conversation_id=conv.id,
                details={"trigger_type": decision.trigger_type, "trigger_value": decision.trigger_value,
                         "matched": decision.detail}))
            return None
        if decision.act == Act.SILENT:
            if not ctx.client.suspended and conv.telegram_topic_id is not None and ctx.desk_enabled:
                await self._forward(tx, conv, messages, key)  # a muted customer is still mirrored
            return None
        if decision.act == Act.MUTE:
            settings = ctx.client.settings
            duration = (timedelta(minutes=settings.mute_duration_first_minutes) if conv.no_count == 0
                        else timedelta(hours=settings.mute_duration_second_hours))
            await tx.conversations.update(conv.id, bot_muted_until=now + duration,
                                          no_count=conv.no_count + 1)
            return None
        if decision.act == Act.OPT_OUT:
            handover = await tx.handovers.open_for(conv.id, for_update=True)
            if handover is not None:
                name = ctx.customer.name or ctx.customer.phone or DESK["customer_fallback_name"]
                await self._desk.close(tx, handover, conv.state, Resolution.CUSTOMER_OPT_OUT,
                                       Actor(None, name, kind="customer"),
                                       note=DESK["opted_out_note"])
                return handover.id
            return None
        if decision.act == Act.RATE and decision.rating is not None:
            return await rating.record(tx, conv, decision.rating)
        if decision.act == Act.SMALL_TALK and conv.telegram_topic_id is not None \
                and ctx.desk_enabled and any(unheard(m) for m in messages):
            # a voice note the bot cannot hear: whoever has looked after this customer may
            await self._forward(tx, conv, [m for m in messages if unheard(m)], key)
            return None
        if decision.act == Act.FORWARD:
            if ctx.desk_enabled:
                await self._forward(tx, conv, messages, key)
            if decision.reply:
                await tx.conversations.update(conv.id, pending_notice_at=now)
            open_handover = await tx.handovers.open_for(conv.id)
            return open_handover.id if open_handover else None
        return None

    async def _forward(self, tx: Tx, conv: Conversation, messages: Sequence[InboundMessage],
                       key: str) -> None:
        """Mirror the customer's burst into the topic as one message (a voice note's transcript
        marked as such); media go as themselves."""
        lines = tuple(mirror_line(m) for m in messages if m.text and (m.transcribed or not m.media))
        if lines:
            await tx.outbox.enqueue(conv.client_id, Mirror(conv.id, lines), f"mirror:{key}")
        for index, message in enumerate(m for m in messages if m.media):
            await tx.outbox.enqueue(conv.client_id, MediaForward(
                conv.id, {**(message.media or {}), "type": message.message_type}),
                f"media:{key}:{index}")

    @staticmethod
    def _turn_key(conversation_id: UUID, messages: Sequence[InboundMessage]) -> str:
        """Stable across retries of the same turn (the first event or provider message id), and
        unique beyond this database (the conversation's uuid): ChatFlow de-duplicates on it."""
        first = messages[0] if messages else None
        if first is not None and first.event_id is not None:
            return f"{conversation_id}:e{first.event_id}"
        if first is not None and first.provider_message_id:
            return f"{conversation_id}:{first.provider_message_id}"
        return f"{conversation_id}:{time.time_ns()}"


def _customer_lines(messages: Sequence[InboundMessage]) -> list[NewMessage]:
    """The customer's messages as history lines (a media message by its type when it has no
    text, with its media and whether it was transcribed)."""
    return [NewMessage(message.text or f"[{message.message_type}]",
                       provider_message_id=message.provider_message_id,
                       metadata={"type": message.message_type, "media": message.media,
                                 "transcribed": message.transcribed} if message.media else None)
            for message in messages]


def _claims(messages: Sequence[InboundMessage]) -> tuple[tuple[int, int], ...]:
    """The turn's events as claimed: (event id, attempt) pairs, the fencing tokens of their end."""
    return tuple((m.event_id, m.attempt or 0) for m in messages if m.event_id is not None)


def _reply_metadata(decision: Decision) -> dict[str, object]:
    return {"act": decision.act, "intent": decision.intent, "source": decision.answer_source,
            "degraded": list(decision.degraded)}


def _customer_text(ctx: TurnContext, conv: Conversation, text: str,
                   messages: Sequence[InboundMessage]) -> CustomerText:
    return CustomerText(conv.id, ctx.customer.remote_jid, text,
                        instance_id=messages[-1].instance_id if messages else None,
                        branch_id=conv.branch_id)
