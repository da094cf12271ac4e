"""HTTP endpoints of the desk: Telegram's webhook, the legacy `POST /callback` (WIRE.md §4; the
admin token is checked by the middleware) and the signed media links served to ChatFlow."""

from __future__ import annotations

import hmac
from typing import Any
from uuid import UUID

from aiohttp import web

from channels.telegram.keys import MEDIA, UPDATES
from core.desk import Action, Actor
from gateway.errors import error_response
from gateway.keys import DB, DESK, STORE
from storage.repositories import clients

routes = web.RouteTableDef()

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@routes.post("/telegram-webhook/{client_slug}")
async def telegram_webhook(request: web.Request) -> web.Response:
    """Authenticate, store (de-duplicated on update_id) and answer at once; the update is
    handled after the answer, and a stored update is never lost (see `updates.py`)."""
    client = await clients.by_slug(request.app[DB], request.match_info["client_slug"])
    if client is None:
        return error_response(404, "not_found", "unknown client")
    if not client.settings.telegram_bot_token:
        return error_response(404, "not_found", "this client has no Telegram desk")
    expected = client.settings.telegram_webhook_secret or ""
    given = request.headers.get(SECRET_HEADER, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return error_response(401, "unauthorized", "wrong Telegram secret token")
    try:
        payload = await request.json()
    except ValueError:
        return error_response(400, "bad_request", "body is not JSON")
    if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
        return error_response(400, "bad_request", "not a Telegram update")
    updates = request.app[UPDATES]
    if await updates.accept(client, payload):
        updates.handle_soon(client, payload)
    return web.json_response({"ok": True})


def _callback_request(body: Any) -> tuple[UUID, Action, Actor] | str:
    """The parsed request, or what is wrong with it."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    try:
        conversation_id = UUID(str(body.get("conversation_id")))
    except ValueError:
        return "conversation_id must be a UUID"
    try:
        action = Action(body.get("action"))
    except ValueError:
        return "action must be one of take, resolve, skip, return"
    manager_id = body.get("manager_id")
    if isinstance(manager_id, bool) or not str(manager_id or "").lstrip("-").isdigit():
        return "manager_id must be a numeric id"
    name = body.get("manager_name")
    name = name.strip() if isinstance(name, str) and name.strip() else str(manager_id)
    return conversation_id, action, Actor(int(str(manager_id)), name[:200])


@routes.post("/callback")
async def manager_callback(request: web.Request) -> web.Response:
    try:
        parsed = _callback_request(await request.json())
    except ValueError:
        parsed = "body is not JSON"
    if isinstance(parsed, str):
        return error_response(400, "bad_request", parsed)
    conversation_id, action, actor = parsed
    async with request.app[STORE].transaction() as tx:
        conversation = await tx.conversations.get(conversation_id)
        handover = await tx.handovers.open_for(conversation_id) if conversation else None
    if conversation is None:
        return error_response(404, "not_found", "conversation not found")
    if handover is None:  # e.g. resolve on a bot_active conversation: an invalid transition
        return error_response(409, "invalid_transition", "the conversation has no open handover",
                              conversation_id=str(conversation_id), action=str(action),
                              old_state=str(conversation.state), new_state=str(conversation.state))
    outcome = await request.app[DESK].act(action, handover.id, actor,
                                          client_id=conversation.client_id)
    body = {"success": outcome.ok, "conversation_id": str(conversation_id), "action": str(action),
            "old_state": outcome.old_state, "new_state": outcome.new_state,
            "message": outcome.message}
    if outcome.ok:
        return web.json_response(body)
    return web.json_response({**body, "error": "conflict"}, status=409)


@routes.get("/media/{token}")
async def signed_media(request: web.Request) -> web.StreamResponse:
    path = request.app[MEDIA].resolve(request.match_info["token"])
    if path is None:
        return error_response(404, "not_found", "no such file, or the link has expired")
    return web.FileResponse(path)
