"""Manager desk actions on a handover (PRODUCT.md §5, §6): take, resolve, return, skip, a
manager's take-over of a conversation the bot has (`trigger_type = manual`) and the hand-back
to the bot (`/bot`), and the system's own closings (auto-close, customer opt-out, self-heal).
Each action changes the conversation state and the handover in one transaction, writes its
Telegram effects to the outbox and an audit entry; a stale or foreign action changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from core import rating
from core.models import Handover, HandoverStatus, Resolution, State, TriggerType
from core.outbound import CardUpdate, LearnOffer, OutboundMessage, TopicMessage, UnpinCard
from core.ports import AuditEntry, Store, Tenants, Tx
from core.texts import DESK


class Action(StrEnum):
    TAKE = "take"
    RESOLVE = "resolve"
    RETURN = "return"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Actor:
    id: int | None
    name: str
    kind: str = "manager"  # "manager" | "operator" | "system" | "customer"


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    ok: bool
    # "ok" | "not_found" | "foreign" | "stale" | "already_taken" | "invalid_transition" | "no_topic"
    code: str
    message: str
    old_state: State | None = None
    new_state: State | None = None
    handover: Handover | None = None
    conversation_id: UUID | None = None


def _cleanup(handover: Handover, note: str, key: str) -> list[tuple[OutboundMessage, str]]:
    """The end of every handover in the topic: the card shows it closed and is unpinned, and a
    note says how it ended."""
    conv, hid = handover.conversation_id, handover.id
    return [(CardUpdate(conv, hid, HandoverStatus.RESOLVED), f"{key}:buttons"),
            (UnpinCard(conv, hid), f"{key}:unpin"),
            (TopicMessage(conv, note, handover_id=hid), f"{key}:note")]


async def _load(tx: Tx, handover_id: UUID, client_id: UUID | None) -> tuple[Handover | None, str]:
    """The handover, locked. The conversation row is locked first, then the handover: the same
    order as the customer pipeline and `escalate()`, so that the two never deadlock."""
    handover = await tx.handovers.get(handover_id)
    if handover is None:
        return None, "not_found"
    if client_id is not None and handover.client_id != client_id:
        return None, "foreign"
    await tx.conversations.get(handover.conversation_id, for_update=True)
    return await tx.handovers.get(handover_id, for_update=True), "ok"


class Desk:
    """The desk actions, over the Store port. Telegram buttons, `POST /callback` and the scheduler
    all come through here."""

    def __init__(self, store: Store, tenants: Tenants | None = None) -> None:
        """`tenants`: the clients' settings, for what depends on them (the rating question
        after resolve); without it none is asked."""
        self._store = store
        self._tenants = tenants

    async def act(self, action: Action, handover_id: UUID, actor: Actor, *,
                  client_id: UUID | None = None) -> ActionOutcome:
        """`client_id` scopes the action to one tenant: a button of another tenant's group is
        refused as `foreign`."""
        async with self._store.transaction() as tx:
            handover, code = await _load(tx, handover_id, client_id)
            if handover is None:
                return ActionOutcome(False, code, DESK[code])
            conv = await tx.conversations.get(handover.conversation_id)
            assert conv is not None
            handler = {Action.TAKE: self._take, Action.RESOLVE: self._resolve,
                       Action.RETURN: self._return, Action.SKIP: self._skip}[action]
            return await handler(tx, handover, conv.state, conv.telegram_topic_id, actor)

    async def act_on_conversation(self, conversation_id: UUID, action: Action,
                                  actor: Actor) -> ActionOutcome:
        """An action on the conversation's open handover, for tools other than Telegram
        (`POST /callback`): `not_found` without the conversation, `invalid_transition` when it
        has no open handover."""
        async with self._store.transaction() as tx:
            conversation = await tx.conversations.get(conversation_id)
            handover = await tx.handovers.open_for(conversation_id) if conversation else None
        if conversation is None:
            return ActionOutcome(False, "not_found", DESK["conversation_not_found"])
        if handover is None:  # e.g. resolve on a bot_active conversation
            return ActionOutcome(False, "invalid_transition", DESK["no_open_handover"],
                                 conversation.state, conversation.state, None, conversation_id)
        return await self.act(action, handover.id, actor, client_id=conversation.client_id)

    async def take_over(self, conversation_id: UUID, actor: Actor, *, client_id: UUID,
                        card_message_id: int | None) -> ActionOutcome:
        """A manager takes a conversation from the bot ([Взять диалог] under its history in the
        topic): a handover with `trigger_type = manual` is opened and taken at once (bot_active →
        pending → manager_active, one transaction), and the history message becomes its card
        (`card_message_id`: its buttons turn into [Решено]). A conversation with a request
        already pending is taken as with [Беру]; one a manager has is refused."""
        async with self._store.transaction() as tx:
            conv = await tx.conversations.get(conversation_id, for_update=True)
            if conv is None:
                return ActionOutcome(False, "not_found", DESK["conversation_not_found"])
            if conv.client_id != client_id:
                return ActionOutcome(False, "foreign", DESK["foreign"])
            existing = await tx.handovers.open_for(conv.id, for_update=True)
            if existing is not None:
                return await self._take(tx, existing, conv.state, conv.telegram_topic_id, actor)
            if conv.telegram_topic_id is None:
                return ActionOutcome(False, "no_topic", DESK["no_topic"], conv.state, conv.state,
                                     None, conv.id)
            h = await tx.handovers.create(conv.id, conv.client_id, TriggerType.MANUAL,
                                          TriggerType.MANUAL.value, None)
            await tx.conversations.set_state(conv.id, State.PENDING)
            await tx.handovers.update(h.id, status=HandoverStatus.ACTIVE, assigned_to=actor.id,
                                      assigned_to_name=actor.name, taken_at=await tx.now(),
                                      telegram_message_id=card_message_id)
            await tx.conversations.set_state(conv.id, State.MANAGER_ACTIVE)
            key = f"take_over:{h.id}"
            await tx.outbox.enqueue(h.client_id, CardUpdate(conv.id, h.id, HandoverStatus.ACTIVE),
                                    f"{key}:buttons")
            await tx.outbox.enqueue(h.client_id, TopicMessage(
                conv.id, DESK["taken_over_note"].format(name=actor.name), handover_id=h.id),
                f"{key}:note")
            await self._audit(tx, h, actor, "take_over", conv.state, State.MANAGER_ACTIVE)
            return ActionOutcome(True, "ok", DESK["taken_over"], conv.state,
                                 State.MANAGER_ACTIVE, h, conv.id)

    async def hand_back(self, conversation_id: UUID, actor: Actor, *,
                        client_id: UUID) -> ActionOutcome:
        """`/bot` in the customer's topic: the open request, pending or taken, is closed as
        `returned_to_bot` and the bot answers again."""
        async with self._store.transaction() as tx:
            conv = await tx.conversations.get(conversation_id, for_update=True)
            if conv is None or conv.client_id != client_id:
                return ActionOutcome(False, "not_found", DESK["conversation_not_found"])
            h = await tx.handovers.open_for(conv.id, for_update=True)
            if h is None:
                return ActionOutcome(False, "invalid_transition", DESK["with_bot_already"],
                                     conv.state, conv.state, None, conv.id)
            await self.close(tx, h, conv.state, Resolution.RETURNED_TO_BOT, actor,
                             note=DESK["returned_note"].format(name=actor.name))
            return ActionOutcome(True, "ok", DESK["returned"], conv.state, State.BOT_ACTIVE, h,
                                 conv.id)

    async def _take(self, tx: Tx, h: Handover, state: State, topic: int | None,
                    actor: Actor) -> ActionOutcome:
        if h.status == HandoverStatus.ACTIVE:
            return ActionOutcome(False, "already_taken",
                                 DESK["already_taken"].format(name=h.assigned_to_name),
                                 state, state, h, h.conversation_id)
        if h.status != HandoverStatus.PENDING or state != State.PENDING:
            return _stale(h, state)
        if topic is None:
            return ActionOutcome(False, "no_topic", DESK["no_topic"], state, state, h,
                                 h.conversation_id)
        now = await tx.now()
        await tx.handovers.update(h.id, status=HandoverStatus.ACTIVE, assigned_to=actor.id,
                                  assigned_to_name=actor.name, taken_at=now)
        await tx.conversations.set_state(h.conversation_id, State.MANAGER_ACTIVE)
        key = f"take:{h.id}"
        await tx.outbox.enqueue(h.client_id, CardUpdate(h.conversation_id, h.id,
                                                        HandoverStatus.ACTIVE), f"{key}:buttons")
        await tx.outbox.enqueue(h.client_id, TopicMessage(
            h.conversation_id, DESK["taken_note"].format(name=actor.name), handover_id=h.id),
            f"{key}:note")
        await self._audit(tx, h, actor, "take", state, State.MANAGER_ACTIVE)
        return ActionOutcome(True, "ok", DESK["taken"], state, State.MANAGER_ACTIVE, h,
                             h.conversation_id)

    async def _resolve(self, tx: Tx, h: Handover, state: State, topic: int | None,
                       actor: Actor) -> ActionOutcome:
        if h.status != HandoverStatus.ACTIVE or state != State.MANAGER_ACTIVE:
            return _stale(h, state)
        await self.close(tx, h, state, Resolution.RESOLVED_BY_MANAGER, actor,
                         note=DESK["resolved_note"].format(name=actor.name))
        if h.manager_response:
            await tx.outbox.enqueue(h.client_id, LearnOffer(h.conversation_id, h.id), f"learn:{h.id}")
        if self._tenants is not None:
            await rating.ask(tx, self._tenants, h)
        return ActionOutcome(True, "ok", DESK["resolved"], state, State.BOT_ACTIVE, h,
                             h.conversation_id)

    async def _return(self, tx: Tx, h: Handover, state: State, topic: int | None,
                      actor: Actor) -> ActionOutcome:
        if h.status != HandoverStatus.PENDING or state != State.PENDING:
            return _stale(h, state)
        await self.close(tx, h, state, Resolution.RETURNED_TO_BOT, actor,
                         note=DESK["returned_note"].format(name=actor.name))
        return ActionOutcome(True, "ok", DESK["returned"], state, State.BOT_ACTIVE, h,
                             h.conversation_id)

    async def _skip(self, tx: Tx, h: Handover, state: State, topic: int | None,
                    actor: Actor) -> ActionOutcome:
        if h.status != HandoverStatus.PENDING or state != State.PENDING:
            return _stale(h, state)
        if actor.id is not None and actor.id not in h.skipped_by:
            await tx.handovers.update(h.id, skipped_by=[*h.skipped_by, actor.id])
        await self._audit(tx, h, actor, "skip", state, state)
        return ActionOutcome(True, "ok", DESK["skipped"], state, state, h, h.conversation_id)

    async def close(self, tx: Tx, h: Handover, state: State, resolution: Resolution, actor: Actor,
                    *, note: str) -> None:
        """End an open handover and give the conversation back to the bot, with the clean-up in
        the topic. Used by resolve and return, and by auto-close, opt-out and self-heal."""
        now = await tx.now()
        await tx.handovers.update(h.id, status=HandoverStatus.RESOLVED, resolution=resolution,
                                  resolved_at=now)
        fields: dict[str, object] = {"state": State.BOT_ACTIVE}
        if resolution in (Resolution.RESOLVED_BY_MANAGER, Resolution.RETURNED_TO_BOT):
            fields.update(bot_muted_until=None, no_count=0)
        await tx.conversations.update(h.conversation_id, **fields)
        for message, key in _cleanup(h, note, f"close:{h.id}"):
            await tx.outbox.enqueue(h.client_id, message, key)
        await self._audit(tx, h, actor, f"close:{resolution}", state, State.BOT_ACTIVE)

    async def _audit(self, tx: Tx, h: Handover, actor: Actor, action: str, old: State,
                     new: State) -> None:
        await tx.audit.record(h.client_id, AuditEntry(
            actor_type=actor.kind, action=action,
            actor_id=str(actor.id) if actor.id is not None else None, actor_name=actor.name,
            handover_id=h.id, conversation_id=h.conversation_id,
            details={"old_state": old, "new_state": new},
        ))


def _stale(h: Handover, state: State) -> ActionOutcome:
    code = "stale" if h.status == HandoverStatus.RESOLVED else "invalid_transition"
    return ActionOutcome(False, code, DESK[code], state, state, h, h.conversation_id)

