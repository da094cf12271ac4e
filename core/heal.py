"""Self-heal (PRODUCT.md §3, §6): find the conversations whose state and open handover disagree,
and repair each to a safe state with an audit entry.

The database already forbids most breaches (one open handover per conversation, a topic for
`manager_active`, and a deferred trigger matching state and handover at commit); what remains is
data written around them: old rows, restores, triggers disabled by hand. `diagnose` is pure;
`repair` re-reads the conversation under lock inside the caller's transaction, so a row that was
fixed (or is healthy) in the meantime is left untouched.

A pending request whose card never reached the desk (its delivery given up on a refusal, or
lost) is healthy by the state invariant but helps nobody: `requeue_card` queues the card again
(`CARDLESS_HANDOVER`), under the handover's lock, with the same idempotency key, and the sender
posts a card only for a handover that has none, so a request never gets two cards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from uuid import UUID

from core.desk import Actor, Desk
from core.escalation import card_key
from core.models import HandoverStatus, Resolution, State
from core.outbound import RequestCard
from core.ports import AuditEntry, Tx
from core.texts import DESK

SYSTEM = Actor(id=None, name="self-heal", kind="system")
HEAL_NOTE = DESK["healed_note"]


class BreachKind(StrEnum):
    PENDING_WITHOUT_HANDOVER = "pending_without_handover"
    MANAGER_ACTIVE_WITHOUT_HANDOVER = "manager_active_without_handover"
    BOT_ACTIVE_WITH_OPEN_HANDOVER = "bot_active_with_open_handover"
    PENDING_WITH_ACTIVE_HANDOVER = "pending_with_active_handover"
    MANAGER_ACTIVE_WITH_PENDING_HANDOVER = "manager_active_with_pending_handover"
    MANAGER_ACTIVE_WITHOUT_TOPIC = "manager_active_without_topic"
    CARDLESS_HANDOVER = "cardless_handover"  # pending, its card never posted (`requeue_card`)


class Fix(StrEnum):
    RETURN_TO_BOT = "return_to_bot"  # no open handover: the state goes back to bot_active
    CLOSE_HANDOVER = "close_handover"  # the open handover is resolved `healed`, state bot_active
    ALIGN_TO_HANDOVER = "align_to_handover"  # a taken handover with a topic: state manager_active


@dataclass(frozen=True, slots=True)
class Breach:
    kind: BreachKind
    fix: Fix


@dataclass(frozen=True, slots=True)
class Repair:
    kind: BreachKind
    fix: Fix
    client_id: UUID
    conversation_id: UUID
    handover_id: UUID | None
    old_state: State
    new_state: State


def diagnose(state: State, open_handover: HandoverStatus | None, has_topic: bool) -> Breach | None:
    """The breach of a conversation in `state` whose open handover has status `open_handover`
    (None: no open handover), or None when it is healthy."""
    if state == State.BOT_ACTIVE:
        return Breach(BreachKind.BOT_ACTIVE_WITH_OPEN_HANDOVER, Fix.CLOSE_HANDOVER) if open_handover else None
    if open_handover is None:
        kind = (BreachKind.PENDING_WITHOUT_HANDOVER if state == State.PENDING
                else BreachKind.MANAGER_ACTIVE_WITHOUT_HANDOVER)
        return Breach(kind, Fix.RETURN_TO_BOT)
    if state == State.PENDING:
        if open_handover == HandoverStatus.PENDING:
            return None
        # A manager took it but the state lagged: keep the manager on it when they can write.
        return Breach(BreachKind.PENDING_WITH_ACTIVE_HANDOVER,
                      Fix.ALIGN_TO_HANDOVER if has_topic else Fix.CLOSE_HANDOVER)
    if not has_topic:
        return Breach(BreachKind.MANAGER_ACTIVE_WITHOUT_TOPIC, Fix.CLOSE_HANDOVER)
    if open_handover == HandoverStatus.ACTIVE:
        return None
    # manager_active -> pending is not a valid transition and nobody is assigned: close it.
    return Breach(BreachKind.MANAGER_ACTIVE_WITH_PENDING_HANDOVER, Fix.CLOSE_HANDOVER)


async def repair(tx: Tx, desk: Desk, conversation_id: UUID) -> Repair | None:
    """Repair one conversation inside `tx`; None when it is (now) healthy."""
    conv = await tx.conversations.get(conversation_id, for_update=True)
    if conv is None:
        return None
    handover = await tx.handovers.open_for(conversation_id, for_update=True)
    breach = diagnose(conv.state, handover.status if handover else None, conv.telegram_topic_id is not None)
    if breach is None:
        return None
    if breach.fix == Fix.ALIGN_TO_HANDOVER:
        new_state = State.MANAGER_ACTIVE
        await tx.conversations.set_state(conversation_id, new_state)
    elif breach.fix == Fix.CLOSE_HANDOVER:
        assert handover is not None
        new_state = State.BOT_ACTIVE
        await desk.close(tx, handover, conv.state, Resolution.HEALED, SYSTEM, note=HEAL_NOTE)
    else:
        new_state = State.BOT_ACTIVE
        await tx.conversations.set_state(conversation_id, new_state)
    handover_id = handover.id if handover else None
    await tx.audit.record(conv.client_id, AuditEntry(
        actor_type="system", action=f"heal:{breach.kind}", actor_name=SYSTEM.name,
        handover_id=handover_id, conversation_id=conversation_id,
        details={"fix": breach.fix, "old_state": conv.state, "new_state": new_state,
                 "handover_status": handover.status if handover else None},
    ))
    return Repair(breach.kind, breach.fix, conv.client_id, conversation_id, handover_id,
                  conv.state, new_state)


async def requeue_card(tx: Tx, handover_id: UUID, failed_before: timedelta) -> bool:
    """Queue the card of a pending request that has none again, inside `tx`: its given-up
    delivery becomes due again (when given up at least `failed_before` ago), or, when there is
    none, a new one is queued. False when the request moved on (taken, closed, its card posted)
    or its card is on its way already."""
    handover = await tx.handovers.get(handover_id, for_update=True)
    if handover is None or handover.status != HandoverStatus.PENDING \
            or handover.telegram_message_id is not None:
        return False
    key = card_key(handover.id)
    queued = await tx.outbox.enqueue(handover.client_id,
                                     RequestCard(handover.conversation_id, handover.id), key) \
        or await tx.outbox.retry_failed(key, failed_before)
    if queued:
        await tx.audit.record(handover.client_id, AuditEntry(
            actor_type="system", action=f"heal:{BreachKind.CARDLESS_HANDOVER}",
            actor_name=SYSTEM.name, handover_id=handover.id,
            conversation_id=handover.conversation_id, details={"fix": "requeue_card"}))
    return queued
