"""The operator token (WIRE.md §4): `Authorization: Bearer <ADMIN_TOKEN>` or `X-Admin-Token`.
The `/admin` sub-application checks it in its own middleware; the few admin endpoints outside
it (`/message`, `/callback`, `/reminders/process`) are wrapped in `admin_only`. Without
ADMIN_TOKEN every one of them answers 403: never open by default."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.errors import error_response
from gateway.keys import SETTINGS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def refusal(request: web.Request) -> web.Response | None:
    """The 403 to answer, or None when the request carries the operator token."""
    expected = request.config_dict[SETTINGS].admin_token
    if expected is None or not expected.get_secret_value():
        return error_response(403, "forbidden", "admin API is disabled: set ADMIN_TOKEN")
    header = request.headers.get("Authorization", "")
    given = header[7:] if header[:7].lower() == "bearer " else request.headers.get("X-Admin-Token", "")
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        return error_response(403, "forbidden", "missing or wrong admin token")
    return None


def metrics_refusal(request: web.Request) -> web.Response | None:
    """The 401 to answer when METRICS_TOKEN is set and the scrape does not carry it as a
    bearer token (Prometheus: `authorization: {credentials: …}`); None otherwise."""
    expected = request.config_dict[SETTINGS].metrics_token
    if expected is None:
        return None
    header = request.headers.get("Authorization", "")
    given = header[7:] if header[:7].lower() == "bearer " else ""
    if hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        return None
    response = error_response(401, "unauthorized", "missing or wrong metrics token")
    response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@web.middleware
async def admin_auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    return refusal(request) or await handler(request)


def admin_only(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        return refusal(request) or await handler(request)
    return wrapped
