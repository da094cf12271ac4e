"""Plugging the scheduled work into the app: `setup_scheduler(app)` in `gateway.app.create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway.keys import DESK, DSN, STORE
from gateway.readiness import add_check
from scheduler import routes
from scheduler.jobs import default_jobs
from scheduler.leader import Leadership
from scheduler.runner import ScheduledWork

SCHEDULER = web.AppKey("scheduler", ScheduledWork)


async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    leadership = Leadership(app[DSN])
    work = ScheduledWork(leadership, default_jobs(app[STORE], app[DESK], leadership))
    app[SCHEDULER] = work

    async def check() -> dict[str, object]:
        # A follower is ready too: it takes over when the leader goes away.
        return {"status": "ok", "leader": leadership.is_leader}

    add_check(app, "scheduler", check)
    await leadership.check()
    await work.start()
    yield
    await work.stop()


def setup_scheduler(app: web.Application) -> None:
    """Start the scheduler with the app (after the database) and add `POST /reminders/process`."""
    app.cleanup_ctx.append(scheduler_ctx)
    app.add_routes(routes.routes)
