"""`POST /reminders/process` (WIRE.md §4): one reminder pass now, for an external cron. It runs
whether or not this replica leads: the claims keep it from doubling the scheduler's own pass."""

from __future__ import annotations

from aiohttp import web

from gateway.auth import admin_only
from gateway.keys import SCHEDULER_PORTS
from scheduler.jobs import reminder_pass

routes = web.RouteTableDef()


@routes.post("/reminders/process")
@admin_only
async def process_reminders(request: web.Request) -> web.Response:
    report = await reminder_pass(request.config_dict[SCHEDULER_PORTS])
    return web.json_response({"sent": report.sent, "failed": report.failed,
                              "auto_closed": report.auto_closed})
