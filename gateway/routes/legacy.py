"""`POST /message`: the legacy synchronous n8n path (WIRE.md §4). n8n sends the reply to ChatFlow
itself, so the reply is returned, not queued for delivery."""

from __future__ import annotations

import uuid

from aiohttp import web

from channels.chatflow.inbound import InvalidPayload, normalize_jid
from core.models import Client, InboundMessage
from gateway.auth import admin_only
from gateway.errors import error_response, read_json
from gateway.keys import CHATFLOW, PROCESSOR, TENANTS

routes = web.RouteTableDef()
MAX_CONTENT_CHARS = 4096


async def _client_by_ref(request: web.Request, ref: str) -> Client | None:
    tenants = request.config_dict[TENANTS]
    try:
        return await tenants.client(uuid.UUID(ref))
    except ValueError:
        return await tenants.client_by_slug(ref)


@routes.post("/message")
@admin_only
async def message(request: web.Request) -> web.Response:
    body = await read_json(request)
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
    conversation_id = await request.config_dict[CHATFLOW].conversation_for(client, jid)
    outcome = await request.config_dict[PROCESSOR].process(
        conversation_id,
        [InboundMessage(provider_message_id=f"msg-{uuid.uuid4()}", remote_jid=jid,
                        text=content.strip()[:MAX_CONTENT_CHARS])],
        deliver_reply=False)
    return web.json_response({
        "success": True, "conversation_id": str(conversation_id), "state": outcome.state,
        "intent": outcome.intent, "bot_response": outcome.reply,
    })
