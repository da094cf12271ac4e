"""Liveness, database check and readiness (WIRE.md §4)."""

from __future__ import annotations

from aiohttp import web

from gateway.errors import error_response
from gateway.keys import DB, PROCESS, READINESS
from storage.database import UNAVAILABLE
from storage.repositories import stats

routes = web.RouteTableDef()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    """Under `serve --processes N`, also which process answered (its index, 0 to N-1)."""
    process = request.config_dict.get(PROCESS)
    return web.json_response({"status": "ok"} if process is None else
                             {"status": "ok", "process": process.index})


@routes.get("/db-check")
async def db_check(request: web.Request) -> web.Response:
    try:
        counts = await stats.row_counts(request.config_dict[DB])
    except UNAVAILABLE:
        return error_response(503, "unavailable", "database unreachable")
    return web.json_response({"status": "ok", "database": "ok", "counts": counts})


@routes.get("/ready")
async def ready(request: web.Request) -> web.Response:
    results = await request.config_dict[READINESS].run()
    is_ready = all(r.get("status") != "down" for r in results.values())
    return web.json_response(
        {"status": "ready" if is_ready else "not_ready", "checks": results},
        status=200 if is_ready else 503,
    )
