"""The owner's daily report (PRODUCT.md §10): at the client's `daily_report_time` (local), the
figures of the 24 hours before it go to each owner's private chat with the bot (or to the desk
group when the client names no owner). Each client's report of a day is claimed with its
deliveries in one transaction (`Maintenance.claim_daily_report`), so it goes out once, however many
schedulers race or however late a pass comes (a pass after the time the same local day still
sends it; a day missed entirely is not sent the next day). The figures are counted in that
transaction too, only by the claim that wins."""

from __future__ import annotations

import logging
from functools import partial

from core.models import Client
from core.outbound import OwnerReport
from core.ports import Clock, Maintenance, Tenants
from core.reports import DailyReport, ReportFigures, daily_due, report_text

log = logging.getLogger(__name__)


async def daily_report_pass(tenants: Tenants, maintenance: Maintenance,
                            clock: Clock | None = None) -> int:
    """Queue every daily report due now (the database's time unless `clock` is given, as for
    the reminders); returns how many clients' reports were queued."""
    now = clock.now() if clock else await maintenance.now()
    queued = 0
    for client in await tenants.all_clients():
        settings = client.settings
        due = daily_due(settings, now)
        if due is None or client.suspended or not settings.telegram_bot_token or \
                (settings.telegram_chat_id is None and not settings.owner_telegram_ids):
            continue
        if await maintenance.claim_daily_report(client.id, due, partial(_deliveries, client, due)):
            queued += 1
            log.info("daily report queued", extra={"client": client.slug, "day": str(due.day)})
    return queued


def _deliveries(client: Client, due: DailyReport,
                figures: ReportFigures) -> list[tuple[OwnerReport, str]]:
    """The report of these figures to each recipient, with its idempotency key."""
    text = report_text(client.name, due.period, figures)
    return [(report, f"report:{client.id}:{due.day.isoformat()}:{report.chat_id}")
            for report in _addressed(client, text)]


def _addressed(client: Client, text: str) -> list[OwnerReport]:
    """One report per owner (falling back to the desk group), or one to the group."""
    group = client.settings.telegram_chat_id
    owners = client.settings.owner_telegram_ids
    if not owners:
        assert group is not None
        return [OwnerReport(group, text)]
    return [OwnerReport(owner, text, fallback_chat_id=group) for owner in owners]
