"""`GET /admin/clients/{slug}/doctor[?fresh=1]`: the deployment's and this client's `doctor`
checks as JSON (`{client, ok, checked_at, checks: [{name, status, detail, hint, scope}]}`),
from results at most a minute old unless `fresh` asks for a new run."""

from __future__ import annotations

from aiohttp import web

from gateway.errors import error_response
from gateway.keys import DOCTOR, TENANTS

routes = web.RouteTableDef()


@routes.get("/clients/{slug}/doctor")
async def client_doctor(request: web.Request) -> web.Response:
    slug = request.match_info["slug"]
    client = await request.config_dict[TENANTS].client_by_slug(slug)
    if client is None:
        return error_response(404, "not_found", f"no client with slug {slug!r}")
    fresh = request.query.get("fresh", "").lower() in ("1", "true", "yes")
    return web.json_response(await request.config_dict[DOCTOR].for_client(client, fresh=fresh))
