"""What a turn writes to the history, and the one-statement record of a turn that only answers
(`Store.record_answer`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from core.models import Conversation, Role
from core.outbound import OutboundMessage


@dataclass(frozen=True, slots=True)
class NewMessage:
    """One line of a conversation's history to store (`MessagesRepo.add_many`)."""

    content: str
    provider_message_id: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AnsweredTurn:
    """A turn whose act changes nothing but the history (an answer, small talk), written at
    once: its `lines` in this order (the customer's, then the bot's reply), the reply queued
    for WhatsApp (`delivery`: the client, the message and its idempotency key; None when the
    caller delivers it or there is nothing to send), the conversation's last message time
    (`now`; None: the database's clock) and language, and the end of the turn's events
    (`claims`: as `InboxRepo.mark_done`). Recorded only while the conversation is as the turn
    saw it (`seen`: its state, mute and branch) with no flood notice and no rating question
    open; a conversation that moved on is the general transaction's to apply."""

    seen: Conversation
    language: str
    now: datetime | None
    lines: tuple[tuple[Role, NewMessage], ...]
    delivery: tuple[UUID, OutboundMessage, str] | None
    claims: tuple[tuple[int, int], ...]
