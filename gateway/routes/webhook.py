"""ChatFlow inbound (WIRE.md §1): authenticate, parse, de-duplicate and store durably in one
transaction, answer at once. No LLM or network work happens here: the turn worker does it."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any
from uuid import UUID

from aiohttp import web

from channels.chatflow.inbound import InvalidPayload, parse, storable, unwrap
from core.models import Client
from gateway import metrics
from gateway.errors import error_response
from gateway.keys import DB
from gateway.logs import client_slug_var, conversation_id_var
from storage.repositories import clients, inbox
from storage.repositories.conversations import upsert_customer

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


def _reply(message: str, conversation_id: UUID | None = None, *, status: int = 200) -> web.Response:
    return web.json_response(
        {"success": status == 200, "message": message,
         "conversation_id": str(conversation_id) if conversation_id else None},
        status=status,
    )


def _secret_matches(request: web.Request, client: Client) -> bool:
    given = request.query.get("webhook_secret") or request.headers.get("X-Webhook-Secret") or ""
    return hmac.compare_digest(given.encode(), client.settings.webhook_secret.encode())


async def _read_json(request: web.Request) -> Any:
    """The body as JSON; None for an empty body (ChatFlow's UI probes with one)."""
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("the body is not UTF-8") from None
    try:
        return storable(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InvalidPayload(f"malformed JSON: {exc.msg} at position {exc.pos}") from None


async def _accept(request: web.Request, slug: str, document: Any) -> web.Response:
    pool = request.app[DB]
    client = await clients.by_slug(pool, slug)
    if client is None:
        return error_response(404, "unknown_client", f"no client {slug!r}")
    client_slug_var.set(client.slug)
    if not _secret_matches(request, client):
        return error_response(401, "unauthorized", "wrong or missing webhook secret")
    if document is None:
        return _reply("ok")
    try:
        _, body = unwrap(document)
        message = parse(body)
    except InvalidPayload as exc:
        log.info("webhook rejected", extra={"reason": str(exc)})
        return error_response(400, "bad_request", str(exc))
    instance_id = request.query.get("instance_id") or None
    branch = await clients.resolve_branch(pool, client, instance_id)
    async with pool.acquire() as conn, conn.transaction():
        _, conversation_id = await upsert_customer(
            conn, client.id, message.remote_jid, message.sender_name,
            branch_id=branch.id if branch else None)
        conversation_id_var.set(str(conversation_id))
        event_id = await inbox.store(
            conn, client_id=client.id, channel="whatsapp",
            provider_message_id=message.provider_message_id, conversation_id=conversation_id,
            branch_id=branch.id if branch else None,
            payload={"raw": document, "instance_id": instance_id,
                     "message": {"text": message.text, "type": message.message_type,
                                 "media": message.media, "sender": message.sender_name,
                                 "timestamp": message.timestamp, "truncated": message.truncated}},
        )
        if event_id is None:
            # The transaction only touched last_message_at; roll it back to store nothing.
            raise _Duplicate(conversation_id)
    metrics.MESSAGES_IN.labels("whatsapp").inc()
    log.info("message accepted", extra={"event": event_id, "type": message.message_type})
    return _reply("accepted", conversation_id)


class _Duplicate(Exception):
    def __init__(self, conversation_id: UUID) -> None:
        self.conversation_id = conversation_id


async def _handle(request: web.Request, slug: str | None, document: Any) -> web.Response:
    try:
        if slug is None:
            return error_response(400, "bad_request", "missing client_slug")
        return await _accept(request, slug, document)
    except _Duplicate as duplicate:
        return _reply("Duplicate message_id", duplicate.conversation_id)


@routes.post("/webhook/{client_slug}")
async def chatflow_webhook(request: web.Request) -> web.Response:
    with metrics.STAGE_SECONDS.labels("webhook").time():
        try:
            document = await _read_json(request)
        except InvalidPayload as exc:
            return error_response(400, "bad_request", str(exc))
        return await _handle(request, request.match_info["client_slug"], document)


@routes.post("/webhook")
async def legacy_webhook(request: web.Request) -> web.Response:
    """The legacy wrapped form `{"client_slug": …, "body": {…}}`."""
    try:
        document = await _read_json(request)
        if document is None:
            return _reply("ok")  # the probe with an empty body, as on /webhook/{slug}
        slug, _ = unwrap(document)
    except InvalidPayload as exc:
        return error_response(400, "bad_request", str(exc))
    return await _handle(request, slug, document)


@routes.get("/webhook/{client_slug}")
async def probe(request: web.Request) -> web.Response:
    return _reply("ok")
