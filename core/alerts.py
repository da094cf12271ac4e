"""Operator and owner alerts (PRODUCT.md §10, §8): an unreachable desk, a delivery given up, a
turn failed for good, a growing inbox backlog. Each alert has a key (its kind and what it is
about, e.g. one client's desk); the alert log (`AlertLog`, shared by the replicas) lets one
through per key within the repeat window and at most a budget of alerts an hour, so a condition
seen again and again, by one process or several, is told once. What passes goes to the
operator's chat (`AlertNotifier`) and, when the client names owners, to each owner's private
chat with the client's bot (through the outbox, so it waits out a Telegram outage). Every alert
raised is also an error log line and (through `observer`) a metric, sent or not."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from html import escape

from core.models import Client
from core.outbound import OwnerReport
from core.ports import AlertClaim, AlertDecision, AlertLog, AlertNotifier, Store
from core.texts import ALERT

log = logging.getLogger(__name__)


class AlertKind(StrEnum):
    DESK_UNREACHABLE = "desk_unreachable"
    DELIVERY_GIVEN_UP = "delivery_given_up"
    TURN_FAILED = "turn_failed"
    BACKLOG = "backlog"


@dataclass(frozen=True, slots=True)
class Alert:
    kind: AlertKind
    client: Client | None
    text: str  # what happened, for a person (ALERT texts)
    detail: str | None = None  # e.g. the error; secrets already scrubbed by the caller
    about: str = ""  # narrows the key within the client (a channel); "" for the client as a whole
    to_owners: bool = True  # False for an alert about an owner's own message (no loop)

    @property
    def key(self) -> str:
        who = str(self.client.id) if self.client else "-"
        return ":".join(filter(None, (self.kind.value, who, self.about)))


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    repeat: timedelta = timedelta(hours=1)  # one alert per key within this window
    per_hour: int = 20  # at most this many alerts sent an hour, all keys together
    owners: bool = True  # a copy to the client's owners (`owner_telegram_ids`)


# Told of every alert raised: (kind, outcome), the outcome being an AlertDecision value, or
# "failed" when the operator's chat could not be reached.
AlertObserver = Callable[[AlertKind, str], None]


class Alerter:
    def __init__(self, alerts: AlertLog, notifier: AlertNotifier | None, store: Store, *,
                 policy: AlertPolicy = AlertPolicy(), observer: AlertObserver | None = None) -> None:
        self._alerts = alerts
        self._notifier = notifier
        self._store = store
        self._policy = policy
        self._observer = observer

    async def raise_alert(self, alert: Alert) -> AlertDecision:
        """Record the condition and send it when it is the first of its key in the window and
        within the hourly budget. Never raises for the peers' errors (the caller is a worker)."""
        claim = await self._alerts.claim(alert.key, alert.kind.value,
                                         alert.client.id if alert.client else None,
                                         repeat=self._policy.repeat, per_hour=self._policy.per_hour)
        context = {"alert": alert.kind.value, "key": alert.key, "decision": claim.decision.value,
                   "client": alert.client.slug if alert.client else None,
                   "detail": alert.detail, "seen": claim.count}
        if claim.decision is not AlertDecision.SENT:
            log.error("alert (not sent again: %s)", claim.decision.value, extra=context)
            self._observe(alert.kind, claim.decision.value)
            return claim.decision
        log.error("alert", extra=context)
        text = self._text(alert, claim)
        outcome = AlertDecision.SENT.value
        if self._notifier is not None:
            try:
                await self._notifier.notify(text)
            except Exception as exc:  # held, and handed over when the chat answers (`flush`)
                log.error("alert not delivered to the operator chat",
                          extra={**context, "error": f"{type(exc).__name__}: {exc}"})
                await self._alerts.hold(alert.key, text)
                outcome = "failed"
        if alert.client is not None and alert.to_owners and self._policy.owners:
            await self._to_owners(alert.client, text, alert.key, claim)
        self._observe(alert.kind, outcome)
        return claim.decision

    async def flush(self, limit: int = 20) -> int:
        """Hand the alerts the operator's chat could not take over to it, oldest first, each
        once, marked with when it was raised; stops at the first refusal (the chat is still
        unreachable). Returns how many were handed over."""
        if self._notifier is None:
            return 0
        handed = 0
        for key, text, since in await self._alerts.held(limit):
            try:
                await self._notifier.notify(
                    f"{text}\n{ALERT['held'].format(since=since.strftime('%Y-%m-%d %H:%M UTC'))}")
            except Exception as exc:
                log.warning("held alerts still not delivered", extra={
                    "error": f"{type(exc).__name__}: {exc}", "held": key})
                break
            await self._alerts.handed_over(key)
            handed += 1
        return handed

    def _text(self, alert: Alert, claim: AlertClaim) -> str:
        lines = [alert.text]
        if alert.detail:
            lines.append(ALERT["detail"].format(detail=alert.detail[:500]))
        if claim.count > 1:
            lines.append(ALERT["repeated"].format(count=claim.count))
        return "\n".join(lines)

    async def _to_owners(self, client: Client, text: str, key: str, claim: AlertClaim) -> None:
        owners = client.settings.owner_telegram_ids
        if not owners or not client.settings.telegram_bot_token:
            return
        sent = claim.sent_at.isoformat() if claim.sent_at else ""
        # as for the daily report: an owner who never started the bot is told in the desk group
        group = client.settings.telegram_chat_id
        async with self._store.transaction() as tx:
            for owner in owners:
                await tx.outbox.enqueue(client.id, OwnerReport(owner, escape(text), group),
                                        f"alert:{key}:{sent}:{owner}")

    def _observe(self, kind: AlertKind, outcome: str) -> None:
        if self._observer is not None:
            self._observer(kind, outcome)


def client_name(client: Client | None) -> str:
    return f"{client.name} ({client.slug})" if client else ALERT["no_client"]
