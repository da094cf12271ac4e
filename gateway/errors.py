"""JSON error responses (WIRE.md §4): `{"success": false, "error": code, "message": text}`, and
reading a JSON body with a clear 400 when it is not one."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core import safe_json


def error_response(status: int, code: str, message: str, **extra: object) -> web.Response:
    return web.json_response(
        {"success": False, "error": code, "message": message, **extra}, status=status
    )


def answers_chatflow(handler: Any) -> Any:
    """Mark a ChatFlow inbound route: its errors, wherever they are raised, also carry
    `"conversation_id": null` (WIRE.md §1's response form on top of the error form)."""
    handler.answers_chatflow = True
    return handler


def error_fields(request: web.Request) -> dict[str, object]:
    """What an error response of this request's route carries besides the error form."""
    return {"conversation_id": None} if getattr(request.match_info.handler,
                                                "answers_chatflow", False) else {}


class BadRequest(web.HTTPBadRequest):
    """A 400 with a reason; the error middleware turns it into the JSON error form."""

    def __init__(self, reason: str) -> None:
        super().__init__(text=reason)


async def read_json(request: web.Request) -> Any:
    """The body as JSON, bounded and cleaned (`core.safe_json`); a 400 naming what is wrong."""
    try:
        return safe_json.loads(await request.read())
    except safe_json.InvalidJSON as exc:
        raise BadRequest(f"the body must be JSON: {exc}") from None
