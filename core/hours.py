"""Working hours (PRODUCT.md §10): a weekly schedule and dated exceptions (holidays, short
days), per client and per branch, read in the client's timezone.

Pure: every question takes the instant it is about, so tests drive it with any clock.

The document (CLI YAML, admin API JSON; stored in its canonical form):

    weekly:
      mon-fri: "10:00-20:00"
      sat: "10:00-14:00, 15:00-18:00"     # several intervals: a lunch break
      sun: closed
    exceptions:
      "2025-03-21": closed                # a holiday
      "2025-12-31": "10:00-16:00"         # a short day

Days not listed are closed; "24:00" ends a day; an interval does not cross midnight (write
"22:00-24:00" on one day and "00:00-02:00" on the next). A schedule must open at least once a
week. No working hours configured means always open (the behaviour before they existed)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.models import Branch, ClientSettings

log = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far ahead an opening is looked for: a year and a bit covers any list of holidays.
HORIZON_DAYS = 400
MAX_EXCEPTIONS = 500
CLOSED_WORDS = ("closed", "off", "выходной", "демалыс")

_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–—]\s*(\d{1,2}):(\d{2})\s*$")

Interval = tuple[int, int]  # minutes from local midnight: [start, end), end ≤ 24:00
Day = tuple[Interval, ...]


class HoursError(ValueError):
    """A working-hours document that cannot be used, with a one-line reason."""


@dataclass(frozen=True)
class WorkingHours:
    weekly: tuple[Day, ...]  # Monday first
    exceptions: Mapping[date, Day]
    timezone: ZoneInfo

    # --- questions about time -----------------------------------------------------------------

    def intervals(self, start: datetime, days: int = HORIZON_DAYS) -> Iterator[tuple[datetime, datetime]]:
        """The open intervals that end after `start`, in order, for about `days` days, in UTC
        (so that differences are real elapsed time, whatever the local clock does)."""
        first = start.astimezone(self.timezone).date() - timedelta(days=1)
        for offset in range(days + 2):
            day = first + timedelta(days=offset)
            midnight = datetime(day.year, day.month, day.day, tzinfo=self.timezone)
            for begin, end in self.exceptions.get(day, self.weekly[day.weekday()]):
                opened = _wall(midnight, begin)
                closed = _wall(midnight, end)
                if closed > start:
                    yield opened.astimezone(UTC), closed.astimezone(UTC)

    def is_open(self, at: datetime) -> bool:
        opening = self.next_opening(at)
        return opening is not None and opening <= at

    def next_opening(self, at: datetime) -> datetime | None:
        """`at` when open then, else the start of the next open interval (None: none ahead)."""
        for opened, _closed in self.intervals(at):
            return max(opened, at)
        return None

    def working_minutes(self, start: datetime, end: datetime) -> float:
        """Minutes of working time between two instants."""
        if end <= start:
            return 0.0
        total = timedelta(0)
        days = (end - start).days + 2
        for opened, closed in self.intervals(start, days):
            if opened >= end:
                break
            total += min(closed, end) - max(opened, start)
        return total.total_seconds() / 60

    # --- the document -------------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        """The canonical document: every weekday, exceptions sorted, intervals as "HH:MM-HH:MM"."""
        return {
            "weekly": {name: _day_text(day) for name, day in zip(DAYS, self.weekly, strict=True)},
            "exceptions": {d.isoformat(): _day_text(day) for d, day in sorted(self.exceptions.items())},
        }


def _wall(midnight: datetime, minutes: int) -> datetime:
    """Local wall-clock time `minutes` after midnight (aware arithmetic keeps the wall clock,
    so a daylight-saving change does not shift opening times)."""
    return midnight + timedelta(minutes=minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _day_text(day: Day) -> str:
    return ", ".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in day) or "closed"


# --------------------------------------------------------------------------- parsing


def _parse_day(where: str, value: Any) -> Day:
    if value is None or value is False or (isinstance(value, str) and (
            not value.strip() or value.strip().lower() in CLOSED_WORDS)):
        return ()
    parts: list[Any]
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list):
        parts = value
    else:
        raise HoursError(f"{where}: expected \"HH:MM-HH:MM\" or \"closed\", got {value!r}")
    intervals: list[Interval] = []
    for part in parts:
        match = _INTERVAL.match(part) if isinstance(part, str) else None
        if match is None:
            raise HoursError(f"{where}: expected \"HH:MM-HH:MM\" or \"closed\", got {part!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
            raise HoursError(f"{where}: {part.strip()!r} is not a time of day")
        begin, end = h1 * 60 + m1, h2 * 60 + m2
        if end <= begin:
            raise HoursError(f"{where}: {part.strip()!r} ends before it starts "
                             "(split a night across two days: 22:00-24:00, 00:00-02:00)")
        intervals.append((begin, end))
    intervals.sort()
    for (_, end), (begin, _) in pairwise(intervals):
        if begin < end:
            raise HoursError(f"{where}: intervals overlap")
    return tuple(intervals)


def _day_names(key: Any) -> list[int]:
    """"mon", "mon-fri" (a range), "sat,sun" → weekday numbers."""
    names = str(key).strip().lower()
    found: list[int] = []
    for part in names.split(","):
        first, sep, last = part.strip().partition("-")
        if first not in DAYS or (sep and last not in DAYS):
            raise HoursError(f"weekly: unknown day {key!r} (use mon … sun, or a range mon-fri)")
        a, b = DAYS.index(first), DAYS.index(last if sep else first)
        if b < a:
            raise HoursError(f"weekly: the range {key!r} runs backwards")
        found += range(a, b + 1)
    return found


def _parse_date(key: Any) -> date:
    if isinstance(key, date) and not isinstance(key, datetime):
        return key  # YAML reads 2025-03-21 as a date already
    try:
        return date.fromisoformat(str(key).strip())
    except ValueError:
        raise HoursError(f"exceptions: {key!r} is not a date (YYYY-MM-DD)") from None


def parse_schedule(document: Any) -> tuple[tuple[Day, ...], dict[date, Day]]:
    """The weekly schedule and exceptions of a document, validated (HoursError otherwise)."""
    if not isinstance(document, dict):
        raise HoursError("working hours must be an object with 'weekly' (and 'exceptions')")
    unknown = set(document) - {"weekly", "exceptions"}
    if unknown:
        raise HoursError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                         "expected 'weekly' and 'exceptions'")
    weekly_doc = document.get("weekly")
    if not isinstance(weekly_doc, dict) or not weekly_doc:
        raise HoursError("'weekly' must map days (mon … sun, mon-fri) to hours")
    weekly: list[Day | None] = [None] * 7
    for key, value in weekly_doc.items():
        day = _parse_day(f"weekly.{key}", value)
        for index in _day_names(key):
            if weekly[index] is not None:
                raise HoursError(f"weekly: {DAYS[index]} is given twice")
            weekly[index] = day
    if not any(weekly):
        raise HoursError("the weekly schedule never opens")
    exceptions_doc = document.get("exceptions") or {}
    if not isinstance(exceptions_doc, dict):
        raise HoursError("'exceptions' must map dates (YYYY-MM-DD) to hours or 'closed'")
    if len(exceptions_doc) > MAX_EXCEPTIONS:
        raise HoursError(f"at most {MAX_EXCEPTIONS} exceptions")
    exceptions: dict[date, Day] = {}
    for key, value in exceptions_doc.items():
        when = _parse_date(key)
        if when in exceptions:
            raise HoursError(f"exceptions: {when} is given twice")
        exceptions[when] = _parse_day(f"exceptions.{when}", value)
    return tuple(day or () for day in weekly), exceptions


def timezone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursError(f"unknown timezone {name!r} (e.g. Asia/Almaty)") from None


def parse_hours(document: Any, timezone: str) -> WorkingHours:
    weekly, exceptions = parse_schedule(document)
    return WorkingHours(weekly, exceptions, timezone_of(timezone))


def canonical(document: Any) -> dict[str, Any]:
    """A document validated and written out in its canonical form (what is stored)."""
    weekly, exceptions = parse_schedule(document)
    return WorkingHours(weekly, exceptions, ZoneInfo("UTC")).document()


def hours_problems(document: Any, timezone: str) -> list[str]:
    """What is wrong with stored working hours ([] when nothing): the check behind `doctor`."""
    try:
        parse_hours(document, timezone)
    except HoursError as exc:
        return [str(exc)]
    return []


def schedule_for(settings: ClientSettings, branch: Branch | None = None) -> WorkingHours | None:
    """The hours that apply: the branch's own, else the client's; None means always open. A
    stored schedule that no longer parses (edited by hand) counts as always open, with a
    warning: the bot keeps working and `doctor` reports it."""
    document = (branch.working_hours if branch is not None else None) or settings.working_hours
    if not document:
        return None
    try:
        return parse_hours(document, settings.timezone)
    except HoursError as exc:
        log.warning("stored working hours are invalid; treated as always open",
                    extra={"error": str(exc), "branch": branch.slug if branch else None})
        return None
