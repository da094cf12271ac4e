"""The scheduled passes (PRODUCT.md §6): reminders and auto-close, self-heal, queue sweeps, and
the owners' daily reports (`scheduler/reports.py`).

Each pass is safe to run from several processes at once: every item is claimed or re-checked
under a row lock in its own transaction, so the leader lock only saves work, it is not what keeps
a reminder from going out twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from core import reminders
from core.desk import Actor, Desk
from core.heal import BreachKind, Repair, repair, requeue_card
from core.hours import WorkingHours, schedule_for
from core.models import Client, ClientSettings, HandoverStatus, Resolution, State
from core.outbound import TopicMessage
from core.ports import Clock, Leadership, Maintenance, Store, Tenants
from core.reminders import Due
from scheduler.reports import daily_report_pass
from scheduler.runner import Job
from scheduler.settings import SchedulerSettings

log = logging.getLogger(__name__)

# Delivered rows are kept a month for support questions ("was it sent?"); failed rows stay.
SENT_OUTBOX_RETENTION = timedelta(days=30)

AUTO_CLOSER = Actor(id=None, name="auto-close", kind="system")


@dataclass(slots=True)
class ReminderReport:
    sent: int = 0
    failed: int = 0
    auto_closed: int = 0


@dataclass(slots=True)
class HealReport:
    repairs: list[Repair] = field(default_factory=list)
    failed: int = 0
    cards_requeued: int = 0

    def by_kind(self) -> dict[str, int]:
        """How many of each kind were healed (the heals metric)."""
        counts: dict[str, int] = {}
        for done in self.repairs:
            counts[done.kind] = counts.get(done.kind, 0) + 1
        if self.cards_requeued:
            counts[BreachKind.CARDLESS_HANDOVER] = self.cards_requeued
        return counts


@dataclass(frozen=True, slots=True)
class SchedulerPorts:
    """What the scheduled passes work through."""

    store: Store
    tenants: Tenants
    maintenance: Maintenance
    desk: Desk
    # the storage's errors that mean "unreachable right now": a pass stops at the first one
    # instead of counting every item as failed
    transient: tuple[type[BaseException], ...] = ()
    # what time it is for the passes that reckon with it (reminders and auto-close, the daily
    # reports): the database's own when None, as it stamps the rows they compare with
    # (`created_at` of handovers and messages); tests inject one
    clock: Clock | None = None


async def reminder_pass(ports: SchedulerPorts, *, batch: int = 500) -> ReminderReport:
    """Send every reminder due now and auto-close what waited too long (at most `batch`
    handovers a pass, oldest first). Waits count working time where the client (or the
    request's branch) has working hours."""
    report = ReminderReport()
    now, waiting = await ports.maintenance.waiting_handovers(
        batch, ports.clock.now() if ports.clock else None)
    rules = _ReminderRules(ports.tenants)
    for item in waiting:
        handover = item.handover
        found = await rules.of(handover.client_id, item.branch_id)
        if found is None:
            continue
        settings, hours = found
        step = reminders.due_step(handover, settings, now, hours)
        if step is None or (step is not Due.AUTO_CLOSE and not item.has_topic):
            continue
        try:
            if step is Due.AUTO_CLOSE:
                report.auto_closed += await _auto_close(ports, handover.id, settings, hours, now)
            else:
                report.sent += await _send_reminder(ports.store, handover.id, step, settings,
                                                    hours, now)
        except ports.transient:
            raise
        except Exception:
            log.exception("reminder step failed", extra={"handover_id": str(handover.id), "step": step})
            report.failed += 1
    if report.sent or report.failed or report.auto_closed:
        log.info("reminder pass", extra={"sent": report.sent, "failed": report.failed,
                                         "auto_closed": report.auto_closed})
    return report


class _ReminderRules:
    """Each client's settings and each (client, branch)'s working hours, read once a pass."""

    def __init__(self, tenants: Tenants) -> None:
        self._tenants = tenants
        self._clients: dict[UUID, Client | None] = {}
        self._found: dict[tuple[UUID, UUID | None], tuple[ClientSettings, WorkingHours | None] | None] = {}

    async def of(self, client_id: UUID, branch_id: UUID | None
                 ) -> tuple[ClientSettings, WorkingHours | None] | None:
        key = (client_id, branch_id)
        if key not in self._found:
            if client_id not in self._clients:
                self._clients[client_id] = await self._tenants.client(client_id)
            client = self._clients[client_id]
            branch = await self._tenants.branch(branch_id) if branch_id and client else None
            # a suspended client's requests wait: no reminders, no auto-close until it resumes
            self._found[key] = (client.settings, schedule_for(client.settings, branch)) \
                if client and not client.suspended else None
        return self._found[key]


async def _send_reminder(store: Store, handover_id: UUID, step: Due, settings: ClientSettings,
                         hours: WorkingHours | None, now: datetime) -> int:
    async with store.transaction() as tx:
        claimed = await tx.handovers.claim_reminder(handover_id, step)
        if claimed is None:
            return 0
        text = reminders.reminder_text(step, claimed, settings, now, hours)
        await tx.outbox.enqueue(claimed.client_id, TopicMessage(
            claimed.conversation_id, text, html=True, reply_to_card=True, handover_id=claimed.id),
            f"{step}:{claimed.id}")
    log.info("reminder queued", extra={"handover_id": str(handover_id), "step": step,
                                       "conversation_id": str(claimed.conversation_id)})
    return 1


async def _auto_close(ports: SchedulerPorts, handover_id: UUID, settings: ClientSettings,
                      hours: WorkingHours | None, now: datetime) -> int:
    async with ports.store.transaction() as tx:
        # Conversation row first, then the handover: the lock order of the desk and the pipeline.
        handover = await tx.handovers.get(handover_id)
        if handover is None:
            return 0
        conv = await tx.conversations.get(handover.conversation_id, for_update=True)
        handover = await tx.handovers.get(handover_id, for_update=True)
        if handover is None or handover.status != HandoverStatus.PENDING:
            return 0
        if conv is None or conv.state != State.PENDING:
            return 0  # a broken pair is the self-heal's to repair
        if ports.clock is None:
            now = await tx.now()
        if reminders.due_step(handover, settings, now, hours) is not Due.AUTO_CLOSE:
            return 0
        await ports.desk.close(tx, handover, conv.state, Resolution.AUTO_CLOSED, AUTO_CLOSER,
                         note=reminders.auto_close_note(settings))
    log.info("handover auto-closed", extra={"handover_id": str(handover_id),
                                            "conversation_id": str(handover.conversation_id)})
    return 1


async def heal_pass(ports: SchedulerPorts) -> HealReport:
    """Repair every conversation that breaks an invariant of PRODUCT.md §3, one transaction each."""
    report = HealReport()
    for conversation_id in await ports.maintenance.heal_suspects():
        try:
            async with ports.store.transaction() as tx:
                done = await repair(tx, ports.desk, conversation_id)
        except ports.transient:
            raise
        except Exception:
            log.exception("self-heal repair failed", extra={"conversation_id": str(conversation_id)})
            report.failed += 1
            continue
        if done is not None:
            report.repairs.append(done)
            log.warning("self-heal repaired a conversation", extra={
                "conversation_id": str(conversation_id), "kind": done.kind, "fix": done.fix,
                "old_state": done.old_state, "new_state": done.new_state})
    return report


async def card_heal_pass(ports: SchedulerPorts, after: timedelta) -> HealReport:
    """Queue again the card of every request pending for `after` without one (a card given up on
    a refusal, e.g. the bot lost its rights in the group, or a row lost): once the desk can take
    it, the request reaches a person, and its reminders follow."""
    report = HealReport()
    for handover_id in await ports.maintenance.cardless_handovers(after):
        try:
            async with ports.store.transaction() as tx:
                queued = await requeue_card(tx, handover_id, after)
        except ports.transient:
            raise
        except Exception:
            log.exception("request card not queued again", extra={"handover_id": str(handover_id)})
            report.failed += 1
            continue
        if queued:
            report.cards_requeued += 1
            log.warning("self-heal queued the card of a request that had none",
                        extra={"handover_id": str(handover_id)})
    return report


async def sweep_pass(maintenance: Maintenance) -> int:
    """Put conversations whose events wait outside the turn queue back in it (the queues take
    back rows whose worker died by themselves, through their leases)."""
    requeued = await maintenance.requeue_orphan_events()
    if requeued:
        log.warning("waiting events put back in the turn queue", extra={"conversations": requeued})
    return requeued


async def prune_pass(maintenance: Maintenance) -> int:
    pruned = await maintenance.prune_sent_outbox(SENT_OUTBOX_RETENTION)
    if pruned:
        log.info("old delivered outbox rows pruned", extra={"rows": pruned})
    return pruned


async def retention_pass(maintenance: Maintenance, default_days: int) -> tuple[int, int]:
    """Delete message history past each client's retention (issue 14.6)."""
    messages, events = await maintenance.prune_messages(default_days)
    if messages or events:
        log.info("message history past its retention deleted",
                 extra={"messages": messages, "events": events})
    return messages, events


def default_jobs(ports: SchedulerPorts, leadership: Leadership,
                 settings: SchedulerSettings) -> list[Job]:
    return [
        Job("leader", settings.leader_check_every, leadership.check, leader_only=False),
        Job("reminders", settings.reminders_every, lambda: reminder_pass(ports)),
        Job("heal", settings.heal_every, lambda: heal_pass(ports)),
        Job("card_heal", settings.card_heal_every, lambda: card_heal_pass(
            ports, timedelta(minutes=settings.cardless_after_minutes))),
        Job("sweep", settings.sweep_every, lambda: sweep_pass(ports.maintenance)),
        Job("prune", settings.prune_every, lambda: prune_pass(ports.maintenance)),
        Job("retention", settings.retention_every,
            lambda: retention_pass(ports.maintenance, settings.message_retention_days)),
        Job("daily_reports", settings.reports_every,
            lambda: daily_report_pass(ports.tenants, ports.maintenance, ports.clock)),
    ]
