"""The operator API, mounted at `/admin` (`gateway/admin.py`, token-protected): clients,
settings, escalation policy, branches, prompts, managers' saved replies, the owner's figures,
handovers and the audit log. Knowledge
endpoints live in `gateway/routes/knowledge.py`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from core import safe_json
from gateway import desk_admin, hours_admin, tenant_admin
from gateway.errors import error_response
from gateway.keys import DB, SETTINGS
from storage.repositories import audit, clients, handovers

routes = web.RouteTableDef()
ACTOR = "admin-api"
Handler = Callable[[web.Request], Awaitable[web.Response]]


def _refusals(handler: Handler) -> Handler:
    """Tenant errors become JSON 404 / 400 answers with their one-line reason."""
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except tenant_admin.NotFound as exc:
            return error_response(404, "not_found", str(exc))
        except tenant_admin.Conflict as exc:
            return error_response(409, "conflict", str(exc))
        except (tenant_admin.TenantError, ValueError) as exc:
            return error_response(400, "bad_request", str(exc))
    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


async def _object(request: web.Request) -> dict[str, Any]:
    try:
        body = safe_json.loads(await request.read())
    except safe_json.InvalidJSON as exc:
        raise tenant_admin.TenantError(f"the body must be JSON: {exc}") from None
    if not isinstance(body, dict):
        raise tenant_admin.TenantError("the body must be a JSON object")
    return body


def _limit(request: web.Request, default: int = 50) -> int:
    try:
        return max(1, min(int(request.query.get("limit", default)), 500))
    except ValueError:
        raise tenant_admin.TenantError("limit must be a number") from None


@routes.get("/clients")
@_refusals
async def list_clients(request: web.Request) -> web.Response:
    settings = request.config_dict[SETTINGS]
    return web.json_response([tenant_admin.client_summary(c, settings)
                              for c in await clients.list_all(request.config_dict[DB])])


@routes.post("/clients")
@_refusals
async def create_client(request: web.Request) -> web.Response:
    body = await _object(request)
    slug, name = body.pop("slug", None), body.pop("name", None)
    if not isinstance(slug, str) or not isinstance(name, str):
        raise tenant_admin.TenantError("slug and name are required")
    client = await tenant_admin.create_client(request.config_dict[DB], slug, name, body, actor=ACTOR)
    return web.json_response(tenant_admin.client_summary(client, request.config_dict[SETTINGS]), status=201)


@routes.get("/clients/{slug}")
@_refusals
async def show_client(request: web.Request) -> web.Response:
    pool = request.config_dict[DB]
    client = await tenant_admin.require_client(pool, request.match_info["slug"])
    summary = tenant_admin.client_summary(client, request.config_dict[SETTINGS])
    summary["branches"] = [tenant_admin.branch_summary(b) for b in await clients.branches(pool, client.id)]
    return web.json_response(summary)


@routes.patch("/clients/{slug}")
@_refusals
async def update_client(request: web.Request) -> web.Response:
    body = await _object(request)
    status = body.pop("status", None)
    client = await tenant_admin.update_client(request.config_dict[DB], request.match_info["slug"], body,
                                              status=status, actor=ACTOR)
    return web.json_response(tenant_admin.client_summary(client, request.config_dict[SETTINGS]))


@routes.get("/clients/{slug}/policy")
@_refusals
async def get_policy(request: web.Request) -> web.Response:
    return web.json_response({"topics": await tenant_admin.policy(request.config_dict[DB],
                                                                  request.match_info["slug"])})


@routes.put("/clients/{slug}/policy")
@_refusals
async def put_policy(request: web.Request) -> web.Response:
    topics = tenant_admin.policy_topics(await _object(request))
    await tenant_admin.update_client(request.config_dict[DB], request.match_info["slug"],
                                     {"escalation_policy": topics}, actor=ACTOR)
    return await get_policy(request)


@routes.get("/clients/{slug}/hours")
@_refusals
async def get_hours(request: web.Request) -> web.Response:
    """Working hours of the client, or of `?branch=SLUG`, with whether it is open now."""
    return web.json_response(await hours_admin.show_hours(
        request.config_dict[DB], request.match_info["slug"], request.query.get("branch")))


@routes.put("/clients/{slug}/hours")
@_refusals
async def put_hours(request: web.Request) -> web.Response:
    """`{weekly: {...}, exceptions: {...}}` (core/hours.py), for the client or `?branch=SLUG`."""
    return web.json_response(await hours_admin.set_hours(
        request.config_dict[DB], request.match_info["slug"], await _object(request),
        branch_slug=request.query.get("branch"), actor=ACTOR))


@routes.delete("/clients/{slug}/hours")
@_refusals
async def delete_hours(request: web.Request) -> web.Response:
    return web.json_response(await hours_admin.set_hours(
        request.config_dict[DB], request.match_info["slug"], None,
        branch_slug=request.query.get("branch"), actor=ACTOR))


@routes.get("/clients/{slug}/branches")
@_refusals
async def list_branches(request: web.Request) -> web.Response:
    pool = request.config_dict[DB]
    client = await tenant_admin.require_client(pool, request.match_info["slug"])
    branches = await clients.branches(pool, client.id)
    return web.json_response([tenant_admin.branch_summary(b) for b in branches])


@routes.post("/clients/{slug}/branches")
@_refusals
async def add_branch(request: web.Request) -> web.Response:
    body = await _object(request)
    fields = {key: body.get(key) for key in ("instance_id", "phone", "telegram_chat_id", "knowledge_tag")}
    if fields["telegram_chat_id"] is not None and not isinstance(fields["telegram_chat_id"], int):
        raise tenant_admin.TenantError("telegram_chat_id must be a number")
    if not isinstance(body.get("slug"), str) or not isinstance(body.get("name"), str):
        raise tenant_admin.TenantError("slug and name are required")
    branch = await tenant_admin.add_branch(request.config_dict[DB], request.match_info["slug"], body["slug"],
                                           body["name"], actor=ACTOR, **fields)
    return web.json_response(tenant_admin.branch_summary(branch), status=201)


@routes.put("/clients/{slug}/prompt")
@_refusals
async def put_prompt(request: web.Request) -> web.Response:
    body = await _object(request)
    if not isinstance(body.get("text"), str):
        raise tenant_admin.TenantError("text is required")
    await tenant_admin.set_prompt(request.config_dict[DB], request.match_info["slug"], body["text"],
                                  actor=ACTOR)
    return web.json_response({"success": True})


@routes.get("/clients/{slug}/replies")
@_refusals
async def list_replies(request: web.Request) -> web.Response:
    return web.json_response(await desk_admin.list_replies(request.config_dict[DB],
                                                           request.match_info["slug"]))


@routes.put("/clients/{slug}/replies/{name}")
@_refusals
async def put_reply(request: web.Request) -> web.Response:
    """`{text}`; `{customer_name}` and `{client_name}` are filled in when it is sent."""
    body = await _object(request)
    name, created = await desk_admin.put_reply(request.config_dict[DB], request.match_info["slug"],
                                               request.match_info["name"], body.get("text"),
                                               actor=ACTOR)
    return web.json_response({"success": True, "name": name, "created": created},
                             status=201 if created else 200)


@routes.delete("/clients/{slug}/replies/{name}")
@_refusals
async def delete_reply(request: web.Request) -> web.Response:
    await desk_admin.delete_reply(request.config_dict[DB], request.match_info["slug"],
                                  request.match_info["name"], actor=ACTOR)
    return web.json_response({"success": True})


@routes.get("/clients/{slug}/stats")
@_refusals
async def client_stats(request: web.Request) -> web.Response:
    """`?from=&to=`: dates (the client's local days, `to` included) or ISO date-times; by
    default today until now. The figures of the daily report and `/stats`."""
    return web.json_response(await desk_admin.stats(
        request.config_dict[DB], request.match_info["slug"], request.query.get("from"),
        request.query.get("to"), datetime.now(UTC)))


@routes.get("/handovers")
@_refusals
async def list_handovers(request: web.Request) -> web.Response:
    """`?client=SLUG&status=open|pending|active|resolved&limit=N`, newest first."""
    status = request.query.get("status", "open")
    statuses = {"open": ["pending", "active"], "pending": ["pending"], "active": ["active"],
                "resolved": ["resolved"], "all": ["pending", "active", "resolved"]}.get(status)
    if statuses is None:
        raise tenant_admin.TenantError("status must be open, pending, active, resolved or all")
    rows = await handovers.for_operator(request.config_dict[DB], statuses,
                                        request.query.get("client"), _limit(request))
    return web.json_response([{k: (str(v) if v is not None and not isinstance(v, str) else v)
                               for k, v in dict(r).items()} for r in rows])


@routes.get("/audit")
@_refusals
async def audit_log(request: web.Request) -> web.Response:
    """`?client=SLUG&limit=N`: the latest manager, operator and system actions."""
    rows = await audit.latest(request.config_dict[DB], request.query.get("client"),
                              _limit(request))
    return web.json_response([{k: (v if isinstance(v, str | dict | list | None) else str(v))
                               for k, v in dict(r).items()} for r in rows])
