"""JSON error responses (WIRE.md §4): `{"success": false, "error": code, "message": text}`."""

from __future__ import annotations

from aiohttp import web


def error_response(status: int, code: str, message: str, **extra: object) -> web.Response:
    return web.json_response(
        {"success": False, "error": code, "message": message, **extra}, status=status
    )


class ApiError(web.HTTPException):
    """Raise from a handler to answer with a JSON error of the given status."""

    def __init__(self, status: int, code: str, message: str, **extra: object) -> None:
        self.status_code = status
        super().__init__(
            text=error_response(status, code, message, **extra).text,
            content_type="application/json",
        )
        self.code = code
