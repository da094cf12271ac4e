"""Cross-cutting HTTP concerns: request ids, JSON errors, body size (the operator token is
`gateway/auth.py`'s)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.errors import error_fields, error_response
from gateway.keys import SETTINGS
from gateway.logs import request_id_var
from storage.database import UNAVAILABLE

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUEST_ID_HEADER = "X-Request-Id"

_STATUS_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "unprocessable", 429: "too_many_requests",
    503: "unavailable",
}


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else secrets.token_hex(8)
    token = request_id_var.set(request_id)
    try:
        response = await handler(request)
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    except web.HTTPException as exc:
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        request_id_var.reset(token)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        # aiohttp's default text is "404: Not Found"; a handler's own text is kept.
        default_text = f"{exc.status}: {exc.reason}"
        message = exc.reason if not exc.text or exc.text == default_text else exc.text
        return error_response(exc.status, _STATUS_CODES.get(exc.status, "error"), message,
                              **error_fields(request))
    except UNAVAILABLE as exc:
        log.error("database unavailable", extra={"path": request.path, "error": type(exc).__name__})
        return error_response(503, "unavailable", "the database is unavailable, retry later",
                              **error_fields(request))
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(500, "internal", "internal error; see the logs for this request id",
                              request_id=request_id_var.get(), **error_fields(request))


def takes_files(handler: Handler) -> Handler:
    """Mark a route that takes whole files (knowledge uploads): its bodies are bounded by
    KNOWLEDGE_MAX_BYTES instead of MAX_BODY_BYTES, and it reads them with `read_file_body`."""
    handler.takes_files = True  # type: ignore[attr-defined]
    return handler


def body_limit(request: web.Request) -> int:
    settings = request.config_dict[SETTINGS]
    if getattr(request.match_info.handler, "takes_files", False):
        return settings.knowledge_max_bytes
    return settings.max_body_bytes


async def read_file_body(request: web.Request) -> bytes:
    """The body of a `takes_files` route, read up to its own limit (aiohttp's `client_max_size`
    is the smaller MAX_BODY_BYTES); a chunked body that goes over it is refused with 413."""
    limit, body = body_limit(request), bytearray()
    async for chunk in request.content.iter_chunked(65536):
        body += chunk
        if len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    return bytes(body)


@web.middleware
async def body_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse oversized bodies from the declared length before reading anything; aiohttp's own
    `client_max_size` (and `read_file_body`) catch chunked bodies that lie about it."""
    limit = body_limit(request)
    if request.content_length is not None and request.content_length > limit:
        return error_response(413, "payload_too_large", f"request body over {limit} bytes",
                              **error_fields(request))
    return await handler(request)


MIDDLEWARES = [request_id_middleware, error_middleware, body_limit_middleware]
