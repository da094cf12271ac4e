"""Manager desk actions on a handover (PRODUCT.md §5, §6): take, resolve, return, skip, and the
system's own closings (auto-close, customer opt-out, self-heal). Each action changes the
conversation state and the handover in one transaction, writes its Telegram effects to the outbox
and an audit entry; a stale or foreign action changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from core.models import Handover, HandoverStatus, Resolution, State
from core.ports import AuditEntry, OutboundItem, Store, Tx


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


def telegram(kind: str, key: str, conversation_id: UUID, **payload: object) -> OutboundItem:
    return OutboundItem(channel="telegram", kind=kind, payload={"conversation_id": str(conversation_id),
                        **payload}, idempotency_key=key, conversation_id=conversation_id)


def topic_message(conversation_id: UUID, key: str, text: str, *, handover_id: UUID | None = None,
                  reply_to_card: bool = False, html: bool = False) -> OutboundItem:
    return telegram("topic_message", key, conversation_id, text=text, reply_to_card=reply_to_card,
                    html=html, handover_id=str(handover_id) if handover_id else None)


def _cleanup_effects(handover: Handover, note: str, key: str) -> list[OutboundItem]:
    """Buttons removed, card unpinned, a note in the topic: the end of every handover."""
    conv = handover.conversation_id
    hid = str(handover.id)
    return [
        telegram("card_buttons", f"{key}:buttons", conv, handover_id=hid, buttons="none"),
        telegram("unpin_card", f"{key}:unpin", conv, handover_id=hid),
        topic_message(conv, f"{key}:note", note, handover_id=handover.id),
    ]


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

    def __init__(self, store: Store) -> None:
        self._store = store

    async def act(self, action: Action, handover_id: UUID, actor: Actor, *,
                  client_id: UUID | None = None) -> ActionOutcome:
        """`client_id` scopes the action to one tenant: a button of another tenant's group is
        refused as `foreign`."""
        async with self._store.transaction() as tx:
            handover, code = await _load(tx, handover_id, client_id)
            if handover is None:
                messages = {"not_found": "Заявка не найдена", "foreign": "Это заявка другого клиента"}
                return ActionOutcome(False, code, messages[code])
            conv = await tx.conversations.get(handover.conversation_id)
            assert conv is not None
            handler = {Action.TAKE: self._take, Action.RESOLVE: self._resolve,
                       Action.RETURN: self._return, Action.SKIP: self._skip}[action]
            return await handler(tx, handover, conv.state, conv.telegram_topic_id, actor)

    async def _take(self, tx: Tx, h: Handover, state: State, topic: int | None,
                    actor: Actor) -> ActionOutcome:
        if h.status == HandoverStatus.ACTIVE:
            return ActionOutcome(False, "already_taken", f"Заявку уже взял {h.assigned_to_name}",
                                 state, state, h, h.conversation_id)
        if h.status != HandoverStatus.PENDING or state != State.PENDING:
            return _stale(h, state)
        if topic is None:
            return ActionOutcome(False, "no_topic", "Карточка заявки ещё не доставлена в Telegram",
                                 state, state, h, h.conversation_id)
        now = await tx.now()
        await tx.handovers.update(h.id, status=HandoverStatus.ACTIVE, assigned_to=actor.id,
                                  assigned_to_name=actor.name, taken_at=now)
        await tx.conversations.set_state(h.conversation_id, State.MANAGER_ACTIVE)
        key = f"take:{h.id}"
        for item in (
            telegram("card_buttons", f"{key}:buttons", h.conversation_id, handover_id=str(h.id),
                     buttons="resolve"),
            topic_message(h.conversation_id, f"{key}:note", f"{actor.name} взял заявку",
                          handover_id=h.id),
        ):
            await tx.outbox.enqueue(h.client_id, item)
        await self._audit(tx, h, actor, "take", state, State.MANAGER_ACTIVE)
        return ActionOutcome(True, "ok", "Заявка ваша", state, State.MANAGER_ACTIVE, h,
                             h.conversation_id)

    async def _resolve(self, tx: Tx, h: Handover, state: State, topic: int | None,
                       actor: Actor) -> ActionOutcome:
        if h.status != HandoverStatus.ACTIVE or state != State.MANAGER_ACTIVE:
            return _stale(h, state)
        await self.close(tx, h, state, Resolution.RESOLVED_BY_MANAGER, actor,
                         note=f"✅ Решено ({actor.name})")
        if h.manager_response:
            await tx.outbox.enqueue(h.client_id, telegram(
                "learn_offer", f"learn:{h.id}", h.conversation_id, handover_id=str(h.id)))
        return ActionOutcome(True, "ok", "Заявка закрыта", state, State.BOT_ACTIVE, h,
                             h.conversation_id)

    async def _return(self, tx: Tx, h: Handover, state: State, topic: int | None,
                      actor: Actor) -> ActionOutcome:
        if h.status != HandoverStatus.PENDING or state != State.PENDING:
            return _stale(h, state)
        await self.close(tx, h, state, Resolution.RETURNED_TO_BOT, actor,
                         note=f"↩️ Возвращено боту ({actor.name})")
        return ActionOutcome(True, "ok", "Диалог возвращён боту", state, State.BOT_ACTIVE, h,
                             h.conversation_id)

    async def _skip(self, tx: Tx, h: Handover, state: State, topic: int | None,
                    actor: Actor) -> ActionOutcome:
        if h.status != HandoverStatus.PENDING or state != State.PENDING:
            return _stale(h, state)
        if actor.id is not None and actor.id not in h.skipped_by:
            await tx.handovers.update(h.id, skipped_by=[*h.skipped_by, actor.id])
        await self._audit(tx, h, actor, "skip", state, state)
        return ActionOutcome(True, "ok", "Отмечено: не можете взять", state, state, h,
                             h.conversation_id)

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
        for item in _cleanup_effects(h, note, f"close:{h.id}"):
            await tx.outbox.enqueue(h.client_id, item)
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
    message = "Заявка уже закрыта" if h.status == HandoverStatus.RESOLVED else \
        "Это действие сейчас недоступно"
    code = "stale" if h.status == HandoverStatus.RESOLVED else "invalid_transition"
    return ActionOutcome(False, code, message, state, state, h, h.conversation_id)

