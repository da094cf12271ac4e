"""Accepting a customer message (PRODUCT.md §4 step 1): route it to its branch and store it
durably (customer, conversation and the event in one transaction, de-duplicated on the provider
message id). The channel adapter has authenticated and parsed it; the turn worker takes it from
the inbox later. `record` / `from_record` are the stored form of a message."""

from __future__ import annotations

import dataclasses
from typing import Any

from core.models import Client, InboundMessage
from core.ports import Accepted, Inbox, Tenants

# A turn that fails this many times is given up (its events are marked failed).
MAX_TURN_ATTEMPTS = 5
_CLAIM_FIELDS = {"event_id", "attempt"}


async def accept_inbound(tenants: Tenants, inbox: Inbox, client: Client,
                         message: InboundMessage, raw: Any = None) -> Accepted:
    """`raw`: the provider's document, kept with the event for support questions."""
    branch = await tenants.resolve_branch(client, message.instance_id)
    return await inbox.accept(client, branch, message, raw)


def record(message: InboundMessage, raw: Any = None) -> dict[str, Any]:
    """The event as stored in the inbox (JSON): the message, and the provider's raw document."""
    return {"raw": raw, "inbound": {f.name: getattr(message, f.name)
                                    for f in dataclasses.fields(message)
                                    if f.name not in _CLAIM_FIELDS}}


def from_record(payload: dict[str, Any], *, event_id: int, attempt: int,
                provider_message_id: str) -> InboundMessage:
    """The message back from a stored event, carrying its claim. Events stored by earlier
    versions (`{message: {text, type, media, sender, …}, instance_id}`) read the same."""
    stored = payload.get("inbound")
    if stored is None:
        old = payload.get("message") or {}
        stored = {"text": old.get("text", ""), "message_type": old.get("type", "text"),
                  "media": old.get("media"), "sender_name": old.get("sender"),
                  "timestamp": old.get("timestamp"), "truncated": bool(old.get("truncated")),
                  "instance_id": payload.get("instance_id")}
    known = {f.name for f in dataclasses.fields(InboundMessage)} - _CLAIM_FIELDS
    values = {k: v for k, v in stored.items() if k in known}
    values.update(provider_message_id=provider_message_id)
    values.setdefault("remote_jid", "")
    return InboundMessage(**values, event_id=event_id, attempt=attempt)
