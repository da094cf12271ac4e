"""Typed outbound messages: what the domain asks a channel to deliver. Each is written to the
outbox in the transaction of the state it belongs to (as channel, kind and a JSON payload) and
read back into the same type by the delivery worker; senders dispatch on the type.

The kinds' names and payload keys are the outbox's storage format: rows written by an earlier
version keep being delivered (`decode` reads the older `card_buttons` form too)."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

from core.models import HandoverStatus


class UndecodableMessage(ValueError):
    """An outbox row this version cannot read (unknown kind, missing or malformed fields)."""


@dataclass(frozen=True, slots=True)
class TopicMessage:
    """A note in the customer's desk topic (plain text unless `html`), optionally as a reply
    to the request card; reminders are HTML replies to the card."""

    CHANNEL: ClassVar[str] = "telegram"
    KIND: ClassVar[str] = "topic_message"
    conversation_id: UUID
    text: str
    html: bool = False
    reply_to_card: bool = False
    handover_id: UUID | None = None


class Purpose(StrEnum):
    """Why a text goes to the customer: it decides how long its delivery is retried."""

    REPLY = "reply"  # the bot's answer
    RELAY = "relay"  # a manager's message from the desk
    APOLOGY = "apology"  # "sorry for the delay": a reply that could not be delivered in time


@dataclass(frozen=True, slots=True)
class CustomerText:
    """A text to the customer, through the number the conversation came in on (its instance,
    else its branch's, else the client's). `on_failed` is told to the desk if it is given up;
    `handover_id`: the request a manager's message belongs to."""

    CHANNEL: ClassVar[str] = "whatsapp"
    KIND: ClassVar[str] = "send_text"
    conversation_id: UUID | None
    jid: str
    text: str
    instance_id: str | None = None
    branch_id: UUID | None = None
    on_failed: TopicMessage | None = None
    purpose: Purpose = Purpose.REPLY
    handover_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class CustomerMedia:
    """A file to the customer: `url` must be reachable by the provider; `media_type` is one of
    image | audio | document | video."""

    CHANNEL: ClassVar[str] = "whatsapp"
    KIND: ClassVar[str] = "send_media"
    conversation_id: UUID | None
    jid: str
    media_type: str
    url: str
    caption: str = " "
    instance_id: str | None = None
    branch_id: UUID | None = None
    on_failed: TopicMessage | None = None
    handover_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class RequestCard:
    """The request card of a new handover, posted (and pinned) in the customer's topic."""

    CHANNEL: ClassVar[str] = "telegram"
    KIND: ClassVar[str] = "escalation_card"
    conversation_id: UUID
    handover_id: UUID


@dataclass(frozen=True, slots=True)
class CardRepost:
    """The card of a request still open, again, in the customer's recreated topic."""

    CHANNEL: ClassVar[str] = "telegram"
    KIND: ClassVar[str] = "card_repost"
    conversation_id: UUID
    handover_id: UUID
    topic_id: int
    old_message_id: int


@dataclass(frozen=True, slots=True)
class CardUpdate:
    """The card shows what can be done with the request in its new status."""

    CHANNEL: ClassVar[str] = "telegram"
    KIND: ClassVar[str] = "card_update"
    conversation_id: UUID
    handover_id: UUID
    status: HandoverStatus


@dataclass(frozen=True, slots=True)
class UnpinCard:
    CHANNEL: ClassVar[str] = "telegram"
    KIND: ClassVar[str] = "unpin_card"
    conversation_id: UUID
    handover_id: UUID


@dataclass(frozen=True, slots=True)
class Mirror:
    """A burst of customer messages, shown in their topic as one message."""

    CHANNEL: ClassVar[str] = "telegram"
    KIND: ClassVar[str] = "mirror"
    conversation_id: UUID
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MediaForward:
    """A customer's file, forwarded to their topic (`media`: the provider's media data, with
    its `type`)."""

    CHANNEL: ClassVar[str] = "telegram"
    KIND: ClassVar[str] = "media_forward"
    conversation_id: UUID
    media: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LearnOffer:
    """The owner is offered to add a resolved request's answer to the knowledge base."""

    CHANNEL: ClassVar[str] = "telegram"
    KIND: ClassVar[str] = "learn_offer"
    conversation_id: UUID
    handover_id: UUID


@dataclass(frozen=True, slots=True)
class TopicHistory:
    """The customer's recent messages in their topic (the topic made on demand), with a
    [Взять диалог] button while the bot has the conversation: what a manager gets after picking
    the customer with `/find`."""

    CHANNEL: ClassVar[str] = "telegram"
    KIND: ClassVar[str] = "topic_history"
    conversation_id: UUID


@dataclass(frozen=True, slots=True)
class OwnerReport:
    """A report (HTML) to an owner's private chat with the bot (`chat_id` is the owner's id), or
    to the desk group when there is no owner. When Telegram will not deliver to the owner (they
    never started the bot), it goes to `fallback_chat_id` (the desk group) with a mention."""

    CHANNEL: ClassVar[str] = "telegram"
    KIND: ClassVar[str] = "owner_report"
    chat_id: int
    text: str
    fallback_chat_id: int | None = None
    conversation_id: UUID | None = None  # about no conversation


OutboundMessage = (TopicMessage | CustomerText | CustomerMedia | RequestCard | CardRepost
                   | CardUpdate | UnpinCard | Mirror | MediaForward | LearnOffer | TopicHistory
                   | OwnerReport)
_TYPES: dict[tuple[str, str], type] = {(t.CHANNEL, t.KIND): t for t in typing.get_args(OutboundMessage)}
# Rows of earlier versions: (channel, kind) → how to read them today.
_LEGACY_BUTTONS = {"take": HandoverStatus.PENDING, "resolve": HandoverStatus.ACTIVE,
                   "none": HandoverStatus.RESOLVED}


def _plain(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return encode(value)[2] | {"kind": value.KIND}
    if isinstance(value, tuple):
        return list(value)
    return value


def encode(message: OutboundMessage) -> tuple[str, str, dict[str, Any]]:
    """(channel, kind, JSON payload) of a message."""
    payload = {f.name: _plain(getattr(message, f.name)) for f in dataclasses.fields(message)}
    return message.CHANNEL, message.KIND, payload


def _typed(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        if option is UUID:
            return UUID(str(value))
        if option in (HandoverStatus, Purpose):
            return option(value)
        if option is TopicMessage:  # earlier versions nested {channel, kind, payload}
            fields = value.get("payload", value)
            return decode(TopicMessage.CHANNEL, TopicMessage.KIND,
                          {k: v for k, v in fields.items() if k != "kind"})
        if typing.get_origin(option) is tuple:
            return tuple(str(item) for item in value)
    return value


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """A message type's fields with their resolved type hints, worked out once (resolving the
    hints anew for every row decoded was a sixtieth of a turn's CPU)."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))


def decode(channel: str, kind: str, payload: dict[str, Any]) -> OutboundMessage:
    """The message an outbox row holds; UndecodableMessage when this version cannot read it."""
    if (channel, kind) == ("telegram", "card_buttons"):
        payload = {k: v for k, v in payload.items() if k != "buttons"} | {
            "status": _LEGACY_BUTTONS.get(str(payload.get("buttons")))}
        kind = CardUpdate.KIND
    cls = _TYPES.get((channel, kind))
    if cls is None:
        raise UndecodableMessage(f"unknown {channel} kind {kind!r}")
    try:
        values = {name: _typed(hint, payload[name]) for name, hint in _fields(cls) if name in payload}
        return cls(**values)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UndecodableMessage(f"{channel} {kind}: {exc}") from None
