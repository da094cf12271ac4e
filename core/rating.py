"""Customer ratings of a manager's help (PRODUCT.md §10).

After a manager resolves a request, a client that asks for ratings (setting `ask_rating`, off by
default) sends the customer one question. An answer 1–5 within RATING_WINDOW is stored on the
handover (`handovers.rating`, `rated_at`; `rating_asked_at` marks the question), thanked, and
shown in the customer's topic. Any other answer is an ordinary turn and closes the question;
only a thanks or a greeting leaves it open (customers often say thanks before the score)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from core.models import Conversation, Handover, Intent, Role
from core.outbound import CustomerText, TopicMessage
from core.ports import AuditEntry, Tenants, Tx
from core.texts import DESK, customer_text

RATING_WINDOW = timedelta(hours=24)
# The question is answered with the score alone, maybe dressed: "5", "5!", "5/5", "4 из 5",
# "5 баллов", "оценка 5", "5️⃣", "⭐⭐⭐⭐".
_SCORE = re.compile(
    r"^(?:оценка|баға|бағам|rating|score)?\s*([1-5])\s*"
    r"(?:/\s*5|из\s*5|of\s*5|out\s+of\s+5)?\s*"
    r"(?:балл\w*|звезд\w*|stars?|ұпай)?\s*[!.)]*$", re.IGNORECASE)
_STARS = re.compile(r"^[⭐★]{1,5}$")
_KEYCAP = str.maketrans("", "", "\ufe0f\u20e3")
# Clears the question on the conversation.
CLOSED: dict[str, Any] = {"rating_handover_id": None, "rating_due_until": None}


def parse_rating(text: str) -> int | None:
    """The score a reply gives, or None when it is something else ("5 штук" is not a score)."""
    cleaned = " ".join(text.translate(_KEYCAP).split())
    if _STARS.match(cleaned):
        return len(cleaned)
    match = _SCORE.match(cleaned)
    return int(match.group(1)) if match else None


def awaiting(conversation: Conversation, now: datetime) -> bool:
    """Whether a rating question to this customer is still open."""
    return (conversation.rating_handover_id is not None
            and conversation.rating_due_until is not None and now < conversation.rating_due_until)


def keeps_question_open(intent: Intent | None) -> bool:
    return intent in (Intent.THANKS, Intent.GREETING)


async def ask(tx: Tx, tenants: Tenants, handover: Handover) -> bool:
    """Queue the question to the customer of a request a manager just resolved, when the
    client asks for ratings (in the transaction of the resolve). True when it was queued."""
    client = await tenants.client(handover.client_id)
    conversation = await tx.conversations.get(handover.conversation_id)
    if client is None or not client.settings.ask_rating or conversation is None \
            or conversation.channel != "whatsapp":
        return False
    customer = await tx.conversations.customer(conversation.id)
    text = customer_text(client, "rating_request", language=conversation.language)
    now = await tx.now()
    await tx.messages.add(conversation.id, Role.ASSISTANT, text, metadata={"act": "rating_request"})
    await tx.outbox.enqueue(client.id, CustomerText(
        conversation.id, customer.remote_jid, text, instance_id=conversation.instance_id,
        branch_id=conversation.branch_id),
        f"rating:{handover.id}:question")
    await tx.handovers.update(handover.id, rating_asked_at=now)
    await tx.conversations.update(conversation.id, rating_handover_id=handover.id,
                                  rating_due_until=now + RATING_WINDOW)
    return True


async def record(tx: Tx, conversation: Conversation, score: int) -> UUID | None:
    """Store the customer's score on the handover asked about (once), note it in the topic;
    the question is closed either way. The handover's id, or None when nothing was stored."""
    await tx.conversations.update(conversation.id, **CLOSED)
    handover_id = conversation.rating_handover_id
    handover = await tx.handovers.get(handover_id, for_update=True) if handover_id else None
    if handover is None or handover.conversation_id != conversation.id or handover.rating is not None:
        return None
    await tx.handovers.update(handover.id, rating=score, rated_at=await tx.now())
    if conversation.telegram_topic_id is not None:
        await tx.outbox.enqueue(conversation.client_id, TopicMessage(
            conversation.id, DESK["rating_note"].format(score=score), handover_id=handover.id),
            f"rating:{handover.id}:note")
    await tx.audit.record(conversation.client_id, AuditEntry(
        actor_type="customer", action="rate", handover_id=handover.id,
        conversation_id=conversation.id, details={"rating": score}))
    return handover.id
