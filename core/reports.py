"""The owner's view (PRODUCT.md §10): the figures of a period, the periods themselves (today, the
last seven days, the daily report's day) in the client's timezone, and the report's text. The
figures are counted by one query module (`Reports` port); the daily report, `/stats` in the desk
group and `GET /admin/clients/{slug}/stats` all read them from there."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from html import escape
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from core.models import ClientSettings, HandoverStatus, TriggerType
from core.texts import REPORT, reason_text

UNRESOLVED_LISTED = 10  # requests listed by name in the text; the rest are counted
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


@dataclass(frozen=True, slots=True)
class UnresolvedRequest:
    """A request still open at the end of the period, and where its topic is."""

    handover_id: UUID
    conversation_id: UUID
    status: HandoverStatus
    trigger_type: TriggerType
    trigger_value: str | None
    customer_name: str | None
    phone: str | None
    created_at: datetime
    telegram_chat_id: int | None
    telegram_topic_id: int | None

    @property
    def topic_url(self) -> str | None:
        return topic_link(self.telegram_chat_id, self.telegram_topic_id)


@dataclass(frozen=True, slots=True)
class ReportFigures:
    """What happened in [start, end). `escalations` counts the requests opened, by topic (the
    trigger value: `human_request`, `payment`, …, `manual` for a manager's take-over);
    time to take is over the requests taken in the period, manual take-overs left out (they are
    taken the moment they open); `unresolved` are the requests open at `end` (oldest first, at
    most `UNRESOLVED_LISTED`; `unresolved_total` counts them all); `rated` / `rating_average`:
    the customers' 1–5 ratings given in the period (`core.rating`), how many and their mean
    (None without any)."""

    start: datetime
    end: datetime
    customers: int
    messages: int
    bot_answers: int
    bot_only_customers: int
    escalations: dict[str, int]
    taken: int
    median_take_seconds: float | None
    worst_take_seconds: float | None
    resolutions: dict[str, int]
    unresolved: tuple[UnresolvedRequest, ...]
    unresolved_total: int
    rated: int = 0
    rating_average: float | None = None

    @property
    def escalated(self) -> int:
        return sum(self.escalations.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the admin API's answer)."""
        document = asdict(self)
        document["escalated"] = self.escalated
        document["unresolved"] = [
            {**{k: (str(v) if isinstance(v, UUID | datetime) else v) for k, v in asdict(u).items()},
             "waited_seconds": round((self.end - u.created_at).total_seconds()),
             "topic_url": u.topic_url}
            for u in self.unresolved]
        document["start"], document["end"] = self.start.isoformat(), self.end.isoformat()
        return document


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime
    label: str  # how the report names it, e.g. "сегодня, 12.03"


@dataclass(frozen=True, slots=True)
class DailyReport:
    """The daily report due: its local day and the 24 hours it covers (up to its time that
    day, so that consecutive reports tile without a gap even when one is sent late)."""

    day: date
    period: Period


def parse_report_time(value: str) -> time:
    """"HH:MM" (24-hour) → time; ValueError otherwise."""
    match = _TIME.match(value.strip())
    if match is None:
        raise ValueError("daily_report_time must be HH:MM (24-hour), e.g. 21:00")
    return time(int(match.group(1)), int(match.group(2)))


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz)


def today(timezone: str, now: datetime) -> Period:
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    return Period(_local(local.date(), time(0), tz), now,
                  REPORT["today"].format(day=local.strftime("%d.%m")))


def last_week(timezone: str, now: datetime) -> Period:
    """The last seven local days, today included."""
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    first = local.date() - timedelta(days=6)
    return Period(_local(first, time(0), tz), now,
                  REPORT["week"].format(first=first.strftime("%d.%m"),
                                        last=local.strftime("%d.%m")))


def daily_due(settings: ClientSettings, now: datetime) -> DailyReport | None:
    """The daily report due at `now`, or None (reports off, or not yet time today)."""
    if not settings.daily_report_time:
        return None
    at = parse_report_time(settings.daily_report_time)
    tz = ZoneInfo(settings.timezone)
    local = now.astimezone(tz)
    if local.time() < at:
        return None
    end = _local(local.date(), at, tz)
    start = _local(local.date() - timedelta(days=1), at, tz)
    return DailyReport(local.date(), Period(start, end, REPORT["daily"].format(
        day=local.strftime("%d.%m"), time=settings.daily_report_time)))


def topic_link(chat_id: int | None, topic_id: int | None) -> str | None:
    """A t.me link that opens a topic of a supergroup (whose ids are -100…), else None."""
    text = str(chat_id or "")
    if not topic_id or not text.startswith("-100"):
        return None
    return f"https://t.me/c/{text[4:]}/{topic_id}"


def duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return REPORT["under_a_minute"]
    if minutes < 60:
        return REPORT["minutes"].format(minutes=minutes)
    return REPORT["hours"].format(hours=minutes // 60, minutes=minutes % 60)


def report_text(client_name: str, period: Period, figures: ReportFigures) -> str:
    """The report as HTML (everything from customers escaped)."""
    lines = [REPORT["title"].format(client=escape(client_name), period=escape(period.label)),
             REPORT["customers"].format(customers=figures.customers, messages=figures.messages),
             REPORT["bot"].format(answers=figures.bot_answers, alone=figures.bot_only_customers,
                                  customers=figures.customers),
             REPORT["escalated"].format(count=figures.escalated)]
    for topic, count in sorted(figures.escalations.items(), key=lambda item: (-item[1], item[0])):
        lines.append(REPORT["topic"].format(topic=escape(reason_text(topic)), count=count))
    if figures.median_take_seconds is not None and figures.worst_take_seconds is not None:
        lines.append(REPORT["take_time"].format(median=duration(figures.median_take_seconds),
                                                worst=duration(figures.worst_take_seconds),
                                                taken=figures.taken))
    if figures.resolutions:
        lines.append(REPORT["resolutions"].format(closed=", ".join(
            f"{REPORT['resolution_' + name]} {count}"
            for name, count in sorted(figures.resolutions.items()))))
    if figures.rated:
        average = f"{figures.rating_average:.1f}".replace(".", ",")  # the Russian decimal comma
        lines.append(REPORT["rating"].format(average=average, rated=figures.rated))
    if not figures.unresolved_total:
        lines.append(REPORT["all_resolved"])
        return "\n".join(lines)
    lines.append(REPORT["unresolved"].format(count=figures.unresolved_total))
    for request in figures.unresolved:
        who = escape(" · ".join(filter(None, (request.customer_name, _phone(request.phone))))
                     or REPORT["customer"])
        if request.topic_url:
            who = f'<a href="{request.topic_url}">{who}</a>'
        lines.append(REPORT["unresolved_line"].format(
            who=who, reason=escape(reason_text(request.trigger_value)),
            waited=duration((figures.end - request.created_at).total_seconds()),
            status=REPORT["status_" + request.status.value]))
    if (more := figures.unresolved_total - len(figures.unresolved)) > 0:
        lines.append(REPORT["more"].format(count=more))
    return "\n".join(lines)


def _phone(phone: str | None) -> str | None:
    return f"+{phone}" if phone and phone.isdigit() else phone
