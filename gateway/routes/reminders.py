"""`POST /reminders/process` (WIRE.md §4): one reminder pass now, for an external cron. It runs
whether or not this replica leads: the claims keep it from doubling the scheduler's own pass.
The admin token is checked by `gateway.middlewares`."""

from __future__ import annotations

from aiohttp import web

from gateway.keys import DESK, STORE
from scheduler.jobs import reminder_pass

routes = web.RouteTableDef()


@routes.post("/reminders/process")
async def process_reminders(request: web.Request) -> web.Response:
    report = await reminder_pass(request.app[STORE], request.app[DESK])
    return web.json_response({"sent": report.sent, "failed": report.failed,
                              "auto_closed": report.auto_closed})
