"""What follows a delivery given up (PRODUCT.md §8: never dropped silently), queued in the
transaction that marks it failed: the desk's "not delivered" note when the message carries one;
for the bot's reply, one apology to the customer and the conversation handed to the desk."""

from __future__ import annotations

from core.delivery import Delivery, is_bot_reply
from core.escalation import escalate
from core.models import Branch, Client, Role, State, TriggerType, has_desk
from core.outbound import CustomerText, Purpose
from core.ports import Tx
from core.texts import customer_text

UNDELIVERED_REPLY = "undelivered_reply"


async def after_give_up(tx: Tx, delivery: Delivery, client: Client, branch: Branch | None) -> None:
    message = delivery.message
    if (note := getattr(message, "on_failed", None)) is not None:
        await tx.outbox.enqueue(client.id, note, f"{delivery.idempotency_key}:failed")
    if not is_bot_reply(message) or message.conversation_id is None:
        return
    assert isinstance(message, CustomerText)
    conversation = await tx.conversations.get(message.conversation_id, for_update=True)
    apology = customer_text(client, "delivery_apology",
                            language=conversation.language if conversation else None)
    await tx.outbox.enqueue(client.id, CustomerText(
        message.conversation_id, message.jid, apology,
        instance_id=message.instance_id, branch_id=message.branch_id, purpose=Purpose.APOLOGY),
        f"{delivery.idempotency_key}:apology")
    if conversation is None or conversation.state != State.BOT_ACTIVE or not has_desk(client, branch):
        return
    history = await tx.messages.history(conversation.id, 10)
    asked = next((h.content for h in reversed(history) if h.role == Role.USER), None)
    await escalate(tx, conversation.id, trigger_type=TriggerType.SYSTEM,
                   trigger_value=UNDELIVERED_REPLY, user_message=asked)
