"""Parsing ChatFlow webhooks (WIRE.md §1), tolerant of the legacy wrapped form and alternative
key spellings, strict about what we need."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MEDIA_TYPES = {"image", "audio", "ptt", "document", "video", "sticker"}
MAX_TEXT_CHARS = 4096
_JID = re.compile(r"^(\d{5,20})(@s\.whatsapp\.net|@lid|@c\.us)?$")


class InvalidPayload(ValueError):
    """The payload cannot be accepted; the message says why (sent back with a 400)."""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    provider_message_id: str
    remote_jid: str
    sender_name: str | None
    message_type: str
    text: str
    media: dict[str, Any] | None
    timestamp: int | None
    truncated: bool = False


def storable(value: Any) -> Any:
    """JSON as PostgreSQL can store it (text and jsonb refuse NUL characters and lone UTF-16
    surrogates, which JSON escapes can carry): a message is never lost to a stray byte."""
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    return value


def _first(mapping: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value not in (None, ""):
            return value
    return None


def unwrap(document: Any) -> tuple[str | None, dict[str, Any]]:
    """The legacy form `{"client_slug": …, "body": {…}}` → (slug, body); otherwise (None, doc)."""
    if not isinstance(document, dict):
        raise InvalidPayload("the body must be a JSON object")
    body = document.get("body")
    if isinstance(body, dict) and ("client_slug" in document or "metadata" in body):
        slug = document.get("client_slug")
        return (slug if isinstance(slug, str) else None), body
    return None, document


def normalize_jid(raw: Any) -> str:
    if not isinstance(raw, str | int):
        raise InvalidPayload("missing remoteJid")
    value = str(raw).strip().removeprefix("+")
    match = _JID.match(value)
    if not match:
        raise InvalidPayload("remoteJid is not a WhatsApp id (digits@s.whatsapp.net)")
    suffix = match.group(2)
    if suffix in (None, "@c.us"):
        suffix = "@s.whatsapp.net"
    return match.group(1) + suffix


def parse(body: dict[str, Any]) -> InboundMessage:
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    jid = normalize_jid(_first(metadata, "remoteJid", "remote_jid", "jid", "from")
                        or _first(body, "remoteJid", "remote_jid", "jid", "from"))
    message_id = _first(metadata, "messageId", "message_id", "id") or _first(
        body, "messageId", "message_id")
    if not isinstance(message_id, str | int) or not str(message_id).strip():
        raise InvalidPayload("missing messageId")
    message_id = str(message_id).strip()
    if len(message_id) > 256:
        raise InvalidPayload("messageId is too long")
    message_type = str(_first(body, "messageType", "message_type", "type") or "text").lower()
    text = _first(body, "message", "text", "content", "body") or ""
    if not isinstance(text, str):
        raise InvalidPayload("message must be a string")
    text = text.replace("\x00", "").strip()
    media = body.get("mediaData") or body.get("media_data")
    if media is not None and not isinstance(media, dict):
        raise InvalidPayload("mediaData must be an object")
    if message_type in MEDIA_TYPES and media and not text:
        text = str(media.get("caption") or "").strip()
    if message_type not in MEDIA_TYPES and not text:
        raise InvalidPayload("empty message text")
    truncated = len(text) > MAX_TEXT_CHARS
    sender = _first(metadata, "sender", "pushName", "push_name", "name") or _first(
        body, "pushName", "sender")
    timestamp = metadata.get("timestamp")
    return InboundMessage(
        provider_message_id=message_id,
        remote_jid=jid,
        sender_name=str(sender)[:200] if sender else None,
        message_type=message_type if message_type in MEDIA_TYPES else "text",
        text=text[:MAX_TEXT_CHARS],
        media=media if message_type in MEDIA_TYPES else None,
        timestamp=int(timestamp) if isinstance(timestamp, int | float) else None,
        truncated=truncated,
    )
