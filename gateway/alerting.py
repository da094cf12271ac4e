"""What raises the operator's alerts (`core.alerts`) in a serving gateway: the outbox worker's
`on_given_up`, the turn worker's `on_failed`, and a watch that looks every CHECK_SECONDS at
what the senders see of each client's Telegram desk (`gateway.sender_health`: unreachable for
ALERT_DESK_UNREACHABLE_MINUTES) and at each client's inbox backlog (more than
ALERT_BACKLOG_THRESHOLD messages waiting). Every replica watches; the alert log lets one
alert per condition through."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from uuid import UUID

import asyncpg

from core.alerts import Alert, Alerter, AlertKind, client_name
from core.delivery import Delivery
from core.outbound import OwnerReport
from core.ports import Tenants
from core.texts import ALERT
from gateway.logs import scrub
from gateway.sender_health import SenderHealth
from storage.repositories import gauges
from storage.repositories.inbox import ClaimedTurn

log = logging.getLogger(__name__)

CHECK_SECONDS = 30.0


class AlertHooks:
    def __init__(self, alerter: Alerter, tenants: Tenants, pool: asyncpg.Pool,
                 health: SenderHealth, *, desk_unreachable_minutes: float,
                 backlog_threshold: int) -> None:
        self._alerter = alerter
        self._tenants = tenants
        self._pool = pool
        self._health = health
        self._unreachable_seconds = desk_unreachable_minutes * 60
        self._backlog_threshold = backlog_threshold
        self._watch: asyncio.Task[None] | None = None

    async def delivery_given_up(self, delivery: Delivery, error: str) -> None:
        """The outbox worker gave a delivery up (after its deadline, or on a refusal)."""
        with _never_raises(AlertKind.DELIVERY_GIVEN_UP):
            client = await self._tenants.client(delivery.client_id)
            # an owner's own alert that could not reach them is told to the operator only
            to_owners = not isinstance(delivery.message, OwnerReport)
            await self._alerter.raise_alert(Alert(
                AlertKind.DELIVERY_GIVEN_UP, client, ALERT["delivery_given_up"].format(
                    client=client_name(client), channel=delivery.channel, what=delivery.kind),
                detail=scrub(error), about=delivery.channel, to_owners=to_owners))

    async def turn_failed(self, turn: ClaimedTurn, error: str) -> None:
        """A turn failed for good (the customer got the fallback text)."""
        with _never_raises(AlertKind.TURN_FAILED):
            client = await self._tenants.client(turn.events[0].client_id) if turn.events else None
            await self._alerter.raise_alert(Alert(
                AlertKind.TURN_FAILED, client,
                ALERT["turn_failed"].format(client=client_name(client)),
                detail=f"conversation {turn.conversation_id}: {scrub(error)}"))

    async def check(self) -> None:
        """One look at the desks and the backlogs (the watch's round; tests call it), after
        handing the operator's chat what it could not take before."""
        await self._alerter.flush()
        for client_id, error in self._health.unreachable_for("telegram", self._unreachable_seconds):
            client = await self._tenants.client(client_id)
            minutes = round(self._health.failing_for("telegram").get(client_id, 0) / 60)
            await self._alerter.raise_alert(Alert(
                AlertKind.DESK_UNREACHABLE, client, ALERT["desk_unreachable"].format(
                    client=client_name(client), minutes=minutes),
                detail=scrub(error) if error else None))
        for client_id, waiting in (await gauges.inbound_backlog(self._pool)).items():
            if waiting > self._backlog_threshold:
                await self._backlog(client_id, waiting)

    async def start(self) -> None:
        self._watch = asyncio.create_task(self._watch_loop(), name="alert-watch")

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch

    async def _backlog(self, client_id: UUID, waiting: int) -> None:
        client = await self._tenants.client(client_id)
        await self._alerter.raise_alert(Alert(AlertKind.BACKLOG, client, ALERT["backlog"].format(
            client=client_name(client), count=waiting)))

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database blinked: look again next round
                log.warning("alert watch failed", extra={"error": type(exc).__name__})


@contextlib.contextmanager
def _never_raises(kind: AlertKind) -> Iterator[None]:
    """The hooks run inside the workers: an alert that cannot be raised is logged instead."""
    try:
        yield
    except Exception:
        log.exception("alert not raised", extra={"alert": kind.value})
