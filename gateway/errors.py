"""JSON error responses (WIRE.md §4): `{"success": false, "error": code, "message": text}`, and
reading a JSON body with a clear 400 when it is not one."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def error_response(status: int, code: str, message: str, **extra: object) -> web.Response:
    return web.json_response(
        {"success": False, "error": code, "message": message, **extra}, status=status
    )


class BadRequest(web.HTTPBadRequest):
    """A 400 with a reason; the error middleware turns it into the JSON error form."""

    def __init__(self, reason: str) -> None:
        super().__init__(text=reason)


async def read_json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the body must be JSON") from None
