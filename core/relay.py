"""A manager's message from the customer's Telegram topic to the customer's WhatsApp (PRODUCT.md
§5 "Manager writes in the topic"). The message is queued for delivery, saved to history as role
`manager` and as the handover's answer in one transaction; a pending handover is then taken in
the manager's name (auto-take). Relaying the same Telegram message twice (a re-delivered update)
does nothing the second time, auto-take included: the delivery's idempotency key says it was
queued already (so an old message handled again never takes a newer request). With no open request
(after resolve) the message still goes out: what a manager writes in the topic is meant for the
customer. Except when the customer's last request ended with their opt-out ("менеджер не
нужен"): then nothing is sent, and the topic is told so (`DESK["opted_out_relay"]`)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from core.desk import Action, Actor, Desk
from core.models import Handover, HandoverStatus, Resolution, Role
from core.outbound import CustomerMedia, CustomerText, Purpose, TopicMessage
from core.ports import AuditEntry, Store
from core.texts import DESK

FAILED_PREVIEW_CHARS = 200


@dataclass(frozen=True, slots=True)
class ManagerMedia:
    """A file the customer can fetch: `url` must be reachable by the WhatsApp provider."""

    media_type: str  # "image" | "audio" | "document" | "video" (ChatFlow's media endpoints)
    url: str


@dataclass(frozen=True, slots=True)
class ManagerMessage:
    conversation_id: UUID
    source_key: str  # unique per Telegram message, e.g. "{chat_id}:{message_id}"
    manager: Actor
    text: str  # the text, or a media caption ("" when none)
    media: ManagerMedia | None = None


@dataclass(frozen=True, slots=True)
class RelayOutcome:
    relayed: bool
    reason: str  # "ok" | "duplicate" | "empty" | "not_found" | "opted_out"
    auto_taken: bool = False


def _not_delivered(conversation_id: UUID, preview: str) -> TopicMessage:
    """What the manager is shown when the delivery is given up."""
    if len(preview) > FAILED_PREVIEW_CHARS:
        preview = preview[:FAILED_PREVIEW_CHARS] + "…"
    return TopicMessage(conversation_id, DESK["not_delivered"].format(preview=preview))


class Relay:
    def __init__(self, store: Store, desk: Desk) -> None:
        self._store = store
        self._desk = desk

    async def manager_to_customer(self, message: ManagerMessage) -> RelayOutcome:
        if not message.text.strip() and message.media is None:
            return RelayOutcome(False, "empty")
        async with self._store.transaction() as tx:
            conv = await tx.conversations.get(message.conversation_id, for_update=True)
            if conv is None:
                return RelayOutcome(False, "not_found")
            handover = await tx.handovers.open_for(conv.id, for_update=True)
            if handover is None:
                last = await tx.handovers.latest_for(conv.id)
                if last is not None and last.resolution == Resolution.CUSTOMER_OPT_OUT:
                    await tx.outbox.enqueue(conv.client_id, TopicMessage(
                        conv.id, DESK["opted_out_relay"], handover_id=last.id),
                        f"tg-opted-out:{conv.id}:{message.source_key}")
                    return RelayOutcome(False, "opted_out")
            customer = await tx.conversations.customer(conv.id)
            key = f"tg-relay:{conv.id}:{message.source_key}"
            item: CustomerText | CustomerMedia
            if message.media is None:
                item = CustomerText(conv.id, customer.remote_jid, message.text,
                                    instance_id=conv.instance_id, branch_id=conv.branch_id,
                                    on_failed=_not_delivered(conv.id, message.text),
                                    purpose=Purpose.RELAY,
                                    handover_id=handover.id if handover else None)
            else:
                item = CustomerMedia(
                    conv.id, customer.remote_jid, message.media.media_type, message.media.url,
                    caption=message.text or " ", instance_id=conv.instance_id,
                    branch_id=conv.branch_id,
                    on_failed=_not_delivered(conv.id, message.text or message.media.media_type),
                    handover_id=handover.id if handover else None)
            if not await tx.outbox.enqueue(conv.client_id, item, key):
                return RelayOutcome(False, "duplicate")
            content = message.text if message.media is None else \
                f"[{message.media.media_type}] {message.text}".strip()
            await tx.messages.add(conv.id, Role.MANAGER, content, provider_message_id=key,
                                  metadata={"manager_id": message.manager.id,
                                            "manager_name": message.manager.name})
            if handover is not None:
                answer = "\n".join(p for p in (handover.manager_response, content) if p)
                await tx.handovers.update(handover.id, manager_response=answer)
            await tx.audit.record(conv.client_id, AuditEntry(
                actor_type=message.manager.kind, action="relay",
                actor_id=str(message.manager.id) if message.manager.id is not None else None,
                actor_name=message.manager.name,
                handover_id=handover.id if handover else None, conversation_id=conv.id,
                details={"kind": item.KIND, "chars": len(message.text)},
            ))
        auto_taken = False
        if handover is not None and handover.status == HandoverStatus.PENDING:
            auto_taken = await self._auto_take(handover, message.manager)
        return RelayOutcome(True, "ok", auto_taken)

    async def _auto_take(self, handover: Handover, manager: Actor) -> bool:
        """A manager answering a pending request has taken it (the same as pressing [Беру])."""
        outcome = await self._desk.act(Action.TAKE, handover.id, manager, client_id=handover.client_id)
        return outcome.ok
