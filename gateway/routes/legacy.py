"""`POST /message`: the legacy synchronous n8n path (WIRE.md §4). n8n sends the reply to ChatFlow
itself, so the reply is returned, not queued for delivery."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from channels.chatflow.inbound import InvalidPayload, normalize_jid
from core.pipeline import IncomingMessage
from gateway.errors import error_response
from gateway.keys import DB, PROCESSOR
from storage.repositories import clients
from storage.repositories.conversations import upsert_customer

routes = web.RouteTableDef()


async def _client_by_ref(request: web.Request, ref: str) -> Any:
    pool = request.app[DB]
    try:
        return await clients.by_id(pool, uuid.UUID(ref))
    except ValueError:
        return await clients.by_slug(pool, ref)


@routes.post("/message")
async def message(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error_response(400, "bad_request", "the body must be JSON")
    if not isinstance(body, dict):
        return error_response(400, "bad_request", "the body must be a JSON object")
    content = body.get("content")
    ref = body.get("client_id")
    if not isinstance(ref, str) or not ref:
        return error_response(400, "bad_request", "client_id (uuid or slug) is required")
    if not isinstance(content, str) or not content.strip():
        return error_response(400, "bad_request", "content must be a non-empty string")
    try:
        jid = normalize_jid(body.get("remote_jid"))
    except InvalidPayload as exc:
        return error_response(400, "bad_request", str(exc))
    client = await _client_by_ref(request, ref)
    if client is None:
        return error_response(404, "unknown_client", f"no client {ref!r}")
    branch = await clients.resolve_branch(request.app[DB], client, None)
    async with request.app[DB].acquire() as conn, conn.transaction():
        _, conversation_id = await upsert_customer(conn, client.id, jid, None,
                                                   branch_id=branch.id if branch else None)
    outcome = await request.app[PROCESSOR].process(
        conversation_id,
        [IncomingMessage(text=content.strip()[:4096], provider_message_id=f"msg-{uuid.uuid4()}")],
        deliver_reply=False)
    return web.json_response({
        "success": True, "conversation_id": str(conversation_id), "state": outcome.state,
        "intent": outcome.intent, "bot_response": outcome.reply,
    })
