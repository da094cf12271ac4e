"""The ChatFlow inbound adapter (WIRE.md §1): authenticate a webhook, parse and normalise its
payload (tolerant of the legacy wrapped form and alternative key spellings, strict about what
we need) into the one `InboundMessage` type, and hand it to the core's `accept_inbound`. The
HTTP route only translates the outcome into a response."""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from core import safe_json
from core.inbound import accept_inbound
from core.models import Client, InboundMessage
from core.ports import Inbox, Tenants

log = logging.getLogger(__name__)

MEDIA_TYPES = {"image", "audio", "ptt", "document", "video", "sticker"}
MAX_TEXT_CHARS = 4096
_JID = re.compile(r"^([0-9]{5,20})(@s\.whatsapp\.net|@lid|@c\.us)?$")


class InvalidPayload(ValueError):
    """The payload cannot be accepted; the message says why (sent back with a 400)."""


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


def parse(body: dict[str, Any], instance_id: str | None = None) -> InboundMessage:
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
        instance_id=instance_id,
    )


def read_json(raw: bytes) -> Any:
    """The body as JSON (bounded, cleaned: `core.safe_json`), None for an empty body (ChatFlow's
    UI probes with one)."""
    if not raw.strip():
        return None
    try:
        return safe_json.loads(raw)
    except safe_json.InvalidJSON as exc:
        raise InvalidPayload(str(exc)) from None


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """What to answer ChatFlow: 200 (accepted, duplicate, probe), 400, 401 or 404."""

    status: int
    message: str
    conversation_id: UUID | None = None
    error: str | None = None  # the error code when status is not 200
    event_id: int | None = None
    client_slug: str | None = None  # whose message was accepted


class ChatFlowInbound:
    def __init__(self, tenants: Tenants, inbox: Inbox) -> None:
        self._tenants = tenants
        self._inbox = inbox

    async def receive(self, slug: str | None, secret: str, instance_id: str | None,
                      body: bytes) -> WebhookReply:
        """`slug` from the URL (`POST /webhook/{slug}`, checked with its secret before the body
        is read), or None for the legacy wrapped form, whose slug is inside the body."""
        try:
            if slug is None:
                document = read_json(body)
                if document is None:
                    return WebhookReply(200, "ok")  # the probe, as on /webhook/{slug}
                slug, _ = unwrap(document)
                if slug is None:
                    return WebhookReply(400, "missing client_slug", error="bad_request")
                client = await self._authenticated(slug, secret)
            else:
                client = await self._authenticated(slug, secret)
                document = read_json(body) if isinstance(client, Client) else None
        except InvalidPayload as exc:
            return WebhookReply(400, str(exc), error="bad_request")
        if not isinstance(client, Client):
            return client
        if document is None:
            return WebhookReply(200, "ok")
        try:
            message = parse(unwrap(document)[1], instance_id)
        except InvalidPayload as exc:
            log.info("webhook rejected", extra={"reason": str(exc)})
            return WebhookReply(400, str(exc), error="bad_request")
        accepted = await accept_inbound(self._tenants, self._inbox, client, message, document)
        if accepted.event_id is None:
            return WebhookReply(200, "Duplicate message_id", accepted.conversation_id)
        return WebhookReply(200, "accepted", accepted.conversation_id,
                            event_id=accepted.event_id, client_slug=client.slug)

    async def conversation_for(self, client: Client, remote_jid: str) -> UUID:
        """The conversation of a customer answered at once (the legacy `/message`), routed as
        a message without an instance id would be."""
        branch = await self._tenants.resolve_branch(client, None)
        return await self._inbox.conversation_for(client, branch, remote_jid)

    async def _authenticated(self, slug: str, secret: str) -> Client | WebhookReply:
        client = await self._tenants.client_by_slug(slug)
        if client is None:
            return WebhookReply(404, f"no client {slug!r}", error="unknown_client")
        if not hmac.compare_digest(secret.encode(), client.settings.webhook_secret.encode()):
            return WebhookReply(401, "wrong or missing webhook secret", error="unauthorized")
        return client
