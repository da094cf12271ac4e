"""Which reminder a pending handover is due, or its auto-close (PRODUCT.md §6), and the texts.

Pure: the caller passes `now` (the scheduler uses the database's clock, the same one that stamped
`created_at`, or an injected one). At most one step is due per pass, in order: reminder 1, then
reminder 2 on a later pass, so the urgent one always follows the first even after a scheduler
outage. With working hours (core.hours) the wait counts working minutes only: a request opened
on Friday night gets its first reminder N minutes after the desk opens on Saturday, and nobody is
pinged at night; auto-close counts the same way (a night is no reason to give up on a request)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from core.hours import WorkingHours
from core.hours_text import desk_time
from core.models import ClientSettings, Handover, HandoverStatus
from core.texts import DESK


class Due(StrEnum):
    REMINDER_1 = "reminder1"
    REMINDER_2 = "reminder2"
    AUTO_CLOSE = "auto_close"


def waited(handover: Handover, now: datetime, hours: WorkingHours | None = None) -> timedelta:
    """How long the request has waited: all of it, or its working time when there are hours."""
    if hours is not None:
        return timedelta(minutes=hours.working_minutes(handover.created_at, now))
    return max(now - handover.created_at, timedelta(0))


def due_step(handover: Handover, settings: ClientSettings, now: datetime,
             hours: WorkingHours | None = None) -> Due | None:
    """The step due now, or None. Auto-close (when configured) does not depend on reminders being
    on; a handover no longer pending is never due anything."""
    if handover.status != HandoverStatus.PENDING:
        return None
    age = waited(handover, now, hours)
    if settings.auto_close_timeout is not None and age >= timedelta(minutes=settings.auto_close_timeout):
        return Due.AUTO_CLOSE
    if not settings.enable_reminders:
        return None
    if handover.reminder_1_sent_at is None:
        return Due.REMINDER_1 if age >= timedelta(minutes=settings.reminder_timeout_1) else None
    if handover.reminder_2_sent_at is None and age >= timedelta(minutes=settings.reminder_timeout_2):
        return Due.REMINDER_2
    return None


def owner_mentions(settings: ClientSettings) -> str:
    """HTML mentions of the owners for the urgent reminder ("" when escalation is off)."""
    if not settings.enable_owner_escalation:
        return ""
    return ", ".join(DESK["owner_mention"].format(owner=owner) for owner in settings.owner_telegram_ids)


def reminder_text(step: Due, handover: Handover, settings: ClientSettings, now: datetime,
                  hours: WorkingHours | None = None) -> str:
    """HTML text of a reminder (a reply to the request card in the customer's topic). A request
    that waited partly outside working hours says so, with when it came in."""
    if step not in (Due.REMINDER_1, Due.REMINDER_2):
        raise ValueError(f"not a reminder: {step}")
    age = waited(handover, now, hours)
    key = "reminder_1" if step is Due.REMINDER_1 else "reminder_2"
    text = DESK[key].format(minutes=int(age.total_seconds() // 60))
    if hours is not None and now - handover.created_at - age >= timedelta(minutes=1):
        text += DESK["working_time"].format(created=desk_time(handover.created_at, hours.timezone))
    mentions = owner_mentions(settings) if step is Due.REMINDER_2 else ""
    return f"{text}\n{mentions}" if mentions else text


def auto_close_note(settings: ClientSettings) -> str:
    return DESK["auto_closed_note"].format(minutes=settings.auto_close_timeout)
