"""Opening a handover (PRODUCT.md §4 "escalate"): the handover, the state change and the request
card's delivery commit together; an already open handover is reused, never a second card."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from core.models import Handover, State, TriggerType
from core.outbound import RequestCard
from core.ports import AuditEntry, Tx


def card_key(handover_id: UUID) -> str:
    """The idempotency key of a request's card: one card per handover, however often queued."""
    return f"card:{handover_id}"


@dataclass(frozen=True, slots=True)
class Escalation:
    handover: Handover
    created: bool  # False when an open handover was reused


async def escalate(tx: Tx, conversation_id: UUID, *, trigger_type: TriggerType,
                   trigger_value: str | None, user_message: str | None,
                   trigger_detail: dict[str, Any] | None = None) -> Escalation:
    """Call inside a transaction that holds the conversation row (`for_update=True`), for a
    client with a Telegram desk: the request card is queued with the handover.
    `trigger_detail`: what decided it (a rule, an example and its cosine, the LLM), kept on the
    handover and in the audit entry so that the card and the log can say why."""
    existing = await tx.handovers.open_for(conversation_id, for_update=True)
    if existing is not None:
        return Escalation(existing, created=False)
    conv = await tx.conversations.get(conversation_id, for_update=True)
    assert conv is not None, "escalate() needs an existing conversation"
    handover = await tx.handovers.create(conversation_id, conv.client_id, trigger_type,
                                         trigger_value, user_message, trigger_detail)
    await tx.conversations.set_state(conversation_id, State.PENDING)
    await tx.outbox.enqueue(conv.client_id, RequestCard(conversation_id, handover.id),
                            card_key(handover.id))
    await tx.audit.record(conv.client_id, AuditEntry(
        actor_type="system", action="escalate", handover_id=handover.id,
        conversation_id=conversation_id,
        details={"trigger_type": trigger_type, "trigger_value": trigger_value,
                 **({"matched": trigger_detail} if trigger_detail else {})},
    ))
    return Escalation(handover, created=True)
