"""Working hours for operators: shown and set by the CLI (`client hours`) and the admin API
(`/admin/clients/{slug}/hours`), summarised in `/ready`, and checked by `working_hours_problems`
(the check `doctor` runs)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from core.hours import WorkingHours, hours_problems, schedule_for, timezone_of
from core.models import Branch, Client
from gateway import tenant_admin
from gateway.readiness import Check
from storage.repositories import clients


def hours_state(hours: WorkingHours | None, now: datetime) -> dict[str, Any]:
    """Open or not at `now`, and until / from when (local ISO times)."""
    if hours is None:
        return {"always_open": True, "open_now": True}
    state: dict[str, Any] = {"always_open": False, "open_now": hours.is_open(now)}
    for opened, closed in hours.intervals(now):
        if state["open_now"]:
            state["open_until"] = closed.astimezone(hours.timezone).isoformat()
        else:
            state["next_opening"] = opened.astimezone(hours.timezone).isoformat()
        break
    return state


def _summary(client: Client, branch: Branch | None, now: datetime) -> dict[str, Any]:
    own = branch.working_hours if branch is not None else client.settings.working_hours
    return {
        "client": client.slug, "branch": branch.slug if branch else None,
        "timezone": client.settings.timezone, "working_hours": own,
        # a branch without hours of its own follows the client's
        "inherited": branch is not None and own is None,
        **hours_state(schedule_for(client.settings, branch), now),
    }


async def show_hours(pool: asyncpg.Pool, slug: str, branch_slug: str | None = None, *,
                     now: datetime | None = None) -> dict[str, Any]:
    client = await tenant_admin.require_client(pool, slug)
    branch = await tenant_admin.require_branch(pool, client, branch_slug) if branch_slug else None
    return _summary(client, branch, now or datetime.now(UTC))


async def set_hours(pool: asyncpg.Pool, slug: str, document: dict[str, Any] | None, *,
                    branch_slug: str | None = None, actor: str) -> dict[str, Any]:
    """Replace the client's (or a branch's) working hours, validated; None clears them (the
    client: always open; a branch: the client's hours apply)."""
    if document is not None and not isinstance(document, dict):
        raise tenant_admin.TenantError("working hours must be an object with 'weekly'")
    if branch_slug:
        await tenant_admin.set_branch_hours(pool, slug, branch_slug, document, actor=actor)
    else:
        await tenant_admin.update_client(pool, slug, {"working_hours": document}, actor=actor)
    return await show_hours(pool, slug, branch_slug)


async def working_hours_problems(pool: asyncpg.Pool) -> list[str]:
    """Every stored schedule (and timezone) that cannot be used, one line each ([] when all
    are fine). Such a schedule counts as always open, so nothing stops; `doctor` reports it."""
    problems: list[str] = []
    for client in await clients.list_all(pool):
        try:
            timezone_of(client.settings.timezone)
        except ValueError as exc:
            problems.append(f"{client.slug}: timezone: {exc}")
            continue
        if client.settings.working_hours:
            problems += [f"{client.slug}: working_hours: {p}" for p in
                         hours_problems(client.settings.working_hours, client.settings.timezone)]
        for branch in await clients.branches(pool, client.id):
            if branch.working_hours:
                problems += [f"{client.slug}/{branch.slug}: working_hours: {p}" for p in
                             hours_problems(branch.working_hours, client.settings.timezone)]
    return problems


def readiness_check(pool: asyncpg.Pool) -> Check:
    """`/ready`: each client's hours (always open, or open now / when next), and "degraded"
    with the problems when a stored schedule cannot be used."""
    async def check() -> dict[str, object]:
        now = datetime.now(UTC)
        summary: dict[str, object] = {}
        for client in await clients.list_all(pool):
            entry = hours_state(schedule_for(client.settings), now)
            own = [b for b in await clients.branches(pool, client.id) if b.working_hours]
            if own:
                entry["branches"] = {b.slug: hours_state(schedule_for(client.settings, b), now)
                                     for b in own}
            summary[client.slug] = entry
        problems = await working_hours_problems(pool)
        return {"status": "degraded" if problems else "ok", "clients": summary,
                **({"problems": problems} if problems else {})}
    return check
