"""JSON error responses (WIRE.md §4): `{"success": false, "error": code, "message": text}`."""

from __future__ import annotations

from aiohttp import web


def error_response(status: int, code: str, message: str, **extra: object) -> web.Response:
    return web.json_response(
        {"success": False, "error": code, "message": message, **extra}, status=status
    )
