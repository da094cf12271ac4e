"""The scheduled passes (PRODUCT.md §6): reminders and auto-close, self-heal, queue sweeps.

Each pass is safe to run from several processes at once: every item is claimed or re-checked
under a row lock in its own transaction, so the leader lock only saves work, it is not what keeps
a reminder from going out twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from core import reminders
from core.desk import Actor, Desk, topic_message
from core.heal import Repair, repair
from core.models import ClientSettings, HandoverStatus, Resolution, State
from core.reminders import Due
from gateway.turn_worker import MAX_ATTEMPTS as TURN_MAX_ATTEMPTS
from scheduler.leader import Leadership
from scheduler.runner import Job
from storage.database import UNAVAILABLE
from storage.repositories import clients, sweeps
from storage.repositories import heal as heal_queries
from storage.repositories import reminders as reminder_queries
from storage.store import PgStore

log = logging.getLogger(__name__)

REMINDERS_EVERY = 60
HEAL_EVERY = 300
SWEEP_EVERY = 60
PRUNE_EVERY = 3600
LEADER_CHECK_EVERY = 5

# An inbound event claimed this many times without finishing is poison: it is marked failed (the
# turn worker's own limit for turns that fail cleanly).
INBOUND_MAX_ATTEMPTS = TURN_MAX_ATTEMPTS
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


@dataclass(frozen=True, slots=True)
class SweepReport:
    inbound_requeued: int
    inbound_failed: int
    outbox_requeued: int


async def reminder_pass(store: PgStore, desk: Desk, *, batch: int = 500) -> ReminderReport:
    """Send every reminder due now and auto-close what waited too long (at most `batch`
    handovers a pass, oldest first)."""
    report = ReminderReport()
    now, waiting = await reminder_queries.waiting(store.pool, limit=batch)
    settings_of: dict[UUID, ClientSettings | None] = {}
    for item in waiting:
        handover = item.handover
        if handover.client_id not in settings_of:
            client = await clients.by_id(store.pool, handover.client_id)
            settings_of[handover.client_id] = client.settings if client else None
        settings = settings_of[handover.client_id]
        step = reminders.due_step(handover, settings, now) if settings else None
        if step is None or (step is not Due.AUTO_CLOSE and not item.has_topic):
            continue
        try:
            if step is Due.AUTO_CLOSE:
                report.auto_closed += await _auto_close(store, desk, handover.id, settings)
            else:
                report.sent += await _send_reminder(store, handover.id, step, settings, now)
        except UNAVAILABLE:
            raise
        except Exception:
            log.exception("reminder step failed", extra={"handover_id": str(handover.id), "step": step})
            report.failed += 1
    if report.sent or report.failed or report.auto_closed:
        log.info("reminder pass", extra={"sent": report.sent, "failed": report.failed,
                                         "auto_closed": report.auto_closed})
    return report


async def _send_reminder(store: PgStore, handover_id: UUID, step: Due, settings: ClientSettings,
                         now: datetime) -> int:
    async with store.transaction() as tx:
        claimed = await reminder_queries.claim(tx.conn, handover_id, step)
        if claimed is None:
            return 0
        text = reminders.reminder_text(step, claimed, settings, now)
        await tx.outbox.enqueue(claimed.client_id, topic_message(
            claimed.conversation_id, f"{step}:{claimed.id}", text, handover_id=claimed.id,
            reply_to_card=True, html=True))
    log.info("reminder queued", extra={"handover_id": str(handover_id), "step": step,
                                       "conversation_id": str(claimed.conversation_id)})
    return 1


async def _auto_close(store: PgStore, desk: Desk, handover_id: UUID, settings: ClientSettings) -> int:
    async with store.transaction() as tx:
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
        if reminders.due_step(handover, settings, await tx.now()) is not Due.AUTO_CLOSE:
            return 0
        await desk.close(tx, handover, conv.state, Resolution.AUTO_CLOSED, AUTO_CLOSER,
                         note=reminders.auto_close_note(settings))
    log.info("handover auto-closed", extra={"handover_id": str(handover_id),
                                            "conversation_id": str(handover.conversation_id)})
    return 1


async def heal_pass(store: PgStore, desk: Desk) -> HealReport:
    """Repair every conversation that breaks an invariant of PRODUCT.md §3, one transaction each."""
    report = HealReport()
    for conversation_id in await heal_queries.suspects(store.pool):
        try:
            async with store.transaction() as tx:
                done = await repair(tx, desk, conversation_id)
        except UNAVAILABLE:
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


async def sweep_pass(store: PgStore) -> SweepReport:
    """Put rows whose worker died (lease expired) back into their queue."""
    inbound = await sweeps.requeue_stuck_inbound(store.pool, max_attempts=INBOUND_MAX_ATTEMPTS)
    for row in inbound:
        log.warning("stuck inbound event " + ("failed" if row["status"] == "failed" else "re-queued"),
                    extra={"event_id": row["id"], "conversation_id": str(row["conversation_id"]),
                           "attempts": row["attempts"]})
    outbox_rows = await sweeps.requeue_stuck_outbox(store.pool)
    for row in outbox_rows:
        log.warning("stuck outbox row re-queued", extra={
            "delivery": row["id"], "channel": row["channel"], "kind": row["kind"],
            "conversation_id": str(row["conversation_id"] or ""), "attempts": row["attempts"]})
    failed = sum(1 for row in inbound if row["status"] == "failed")
    return SweepReport(inbound_requeued=len(inbound) - failed, inbound_failed=failed,
                       outbox_requeued=len(outbox_rows))


async def prune_pass(store: PgStore) -> int:
    pruned = await sweeps.prune_sent_outbox(store.pool, older_than=SENT_OUTBOX_RETENTION)
    if pruned:
        log.info("old delivered outbox rows pruned", extra={"rows": pruned})
    return pruned


def default_jobs(store: PgStore, desk: Desk, leadership: Leadership) -> list[Job]:
    return [
        Job("leader", LEADER_CHECK_EVERY, leadership.check, leader_only=False),
        Job("reminders", REMINDERS_EVERY, lambda: reminder_pass(store, desk)),
        Job("heal", HEAL_EVERY, lambda: heal_pass(store, desk)),
        Job("sweep", SWEEP_EVERY, lambda: sweep_pass(store)),
        Job("prune", PRUNE_EVERY, lambda: prune_pass(store)),
    ]
