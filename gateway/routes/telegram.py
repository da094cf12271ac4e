"""HTTP endpoints of the manager desk: Telegram's webhook, the legacy `POST /callback` (WIRE.md
§4; admin token) and the signed media links served to ChatFlow."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aiohttp import web

from core.desk import Action, Actor
from gateway.auth import admin_only
from gateway.errors import error_response, read_json
from gateway.keys import DESK, SERVING

routes = web.RouteTableDef()

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@routes.post("/telegram-webhook/{client_slug}")
async def telegram_webhook(request: web.Request) -> web.Response:
    desk = request.config_dict[SERVING].desk
    if desk is None:
        return error_response(404, "not_found", "no client has a Telegram desk")
    outcome = await desk.accept_webhook(request.match_info["client_slug"],
                                        request.headers.get(SECRET_HEADER, ""),
                                        await request.read())
    if outcome.status == 200:
        return web.json_response({"ok": True})
    codes = {400: "bad_request", 401: "unauthorized", 404: "not_found"}
    return error_response(outcome.status, codes[outcome.status], outcome.error or "")


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
    if isinstance(manager_id, bool) or not str(manager_id or "").lstrip("-").isdigit() \
            or not -2**63 <= int(str(manager_id)) < 2**63:
        return "manager_id must be a numeric Telegram id"
    name = body.get("manager_name")
    name = name.strip() if isinstance(name, str) and name.strip() else str(manager_id)
    return conversation_id, action, Actor(int(str(manager_id)), name[:200])


@routes.post("/callback")
@admin_only
async def manager_callback(request: web.Request) -> web.Response:
    parsed = _callback_request(await read_json(request))
    if isinstance(parsed, str):
        return error_response(400, "bad_request", parsed)
    conversation_id, action, actor = parsed
    outcome = await request.app[DESK].act_on_conversation(conversation_id, action, actor)
    if outcome.code == "not_found":
        return error_response(404, "not_found", outcome.message)
    body = {"success": outcome.ok, "conversation_id": str(conversation_id), "action": str(action),
            "old_state": outcome.old_state, "new_state": outcome.new_state,
            "message": outcome.message}
    if outcome.ok:
        return web.json_response(body)
    if outcome.code == "invalid_transition" and outcome.handover is None:
        return error_response(409, "invalid_transition", outcome.message,
                              **{k: v for k, v in body.items() if k not in ("success", "message")})
    return web.json_response({**body, "error": "conflict"}, status=409)


@routes.get("/media/{token}")
async def signed_media(request: web.Request) -> web.StreamResponse:
    desk = request.config_dict[SERVING].desk
    path = desk.media.resolve(request.match_info["token"]) if desk is not None else None
    if path is None:
        return error_response(404, "not_found", "no such file, or the link has expired")
    return web.FileResponse(path)
