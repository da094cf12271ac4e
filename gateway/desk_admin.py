"""Desk administration shared by the operator CLI and the admin HTTP API: the managers' saved
replies of a client (`/t NAME` in a topic), each change in the audit log, and the owner's figures
for a period (the same query module as the daily report and `/stats`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from core import canned
from core.reports import ReportFigures
from gateway.tenant_admin import NotFound, TenantError, audit_operator, require_client
from storage.repositories import replies, reports

MAX_PERIOD = timedelta(days=366)


def _reply_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {"name": row["name"], "text": row["text"], "updated_at": row["updated_at"].isoformat()}


async def list_replies(pool: asyncpg.Pool, slug: str) -> list[dict[str, Any]]:
    client = await require_client(pool, slug)
    return [_reply_summary(row) for row in await replies.list_all(pool, client.id)]


async def put_reply(pool: asyncpg.Pool, slug: str, name: str, text: Any, *,
                    actor: str) -> tuple[str, bool]:
    """Save a reply (validated: name, length, placeholders); (its stored name, whether new)."""
    client = await require_client(pool, slug)
    if not isinstance(text, str):
        raise TenantError("the reply text must be a string")
    try:
        name, text = canned.check_name(name), canned.check_text(text)
    except canned.InvalidReply as exc:
        raise TenantError(str(exc)) from None
    created = await replies.put(pool, client.id, name, text)
    await audit_operator(pool, client.id, actor, "reply_set", {"name": name, "created": created})
    return name, created


async def delete_reply(pool: asyncpg.Pool, slug: str, name: str, *, actor: str) -> None:
    client = await require_client(pool, slug)
    stored = name.strip().lower()
    if not await replies.delete(pool, client.id, stored):
        raise NotFound(f"{slug} has no reply {name!r}")
    await audit_operator(pool, client.id, actor, "reply_delete", {"name": stored})


def _moment(text: str, tz: ZoneInfo, *, end: bool) -> datetime:
    """A date (local midnight; as the end, the day is included) or an ISO date-time (local
    when it names no offset)."""
    try:
        if len(text) == len("2025-01-31"):
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if end else day, time(0), tzinfo=tz)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TenantError(f"not a date or ISO date-time: {text!r} (e.g. 2025-01-31)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def period(timezone: str, start: str | None, end: str | None,
           now: datetime) -> tuple[datetime, datetime]:
    """[start, end) from the query: by default from the client's local midnight until now."""
    tz = ZoneInfo(timezone)
    begin = _moment(start, tz, end=False) if start else datetime.combine(
        now.astimezone(tz).date(), time(0), tzinfo=tz)
    finish = _moment(end, tz, end=True) if end else now
    if begin >= finish:
        raise TenantError("from must be before to")
    if finish - begin > MAX_PERIOD:
        raise TenantError("a period is at most 366 days")
    return begin, finish


async def stats(pool: asyncpg.Pool, slug: str, start: str | None, end: str | None,
                now: datetime) -> dict[str, Any]:
    client = await require_client(pool, slug)
    begin, finish = period(client.settings.timezone, start, end, now)
    figures: ReportFigures = await reports.figures(pool, client.id, begin, finish)
    return {"client": client.slug, "timezone": client.settings.timezone, **figures.as_dict()}
