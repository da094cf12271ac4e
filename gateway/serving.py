"""The long-running parts of a serving gateway, started after the core parts (`wiring.py`) in
this order and stopped in reverse: the senders, the Telegram desk (only once some client has
a bot: aiogram is not even imported before), the alert hooks and their watch, the outbox worker,
the scheduler, the turn worker (last: everything it feeds is there). What they see of their
peers feeds `/ready` and the alerts.

A secondary process of `serve --processes N` builds the desk without starting its bots and
without a Telegram sender: it accepts and handles Telegram webhooks, while the primary polls,
sets webhooks and delivers to Telegram (its outbox worker claims only the channels it can send
on)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp

from channels.chatflow.client import ChatFlowClient, WhatsAppSender
from core.ports import Sender
from gateway import metrics
from gateway.alerting import AlertHooks
from gateway.outbox_worker import OutboxWorker
from gateway.readiness import Check
from gateway.sender_health import SenderHealth
from gateway.turn_worker import TurnWorker
from scheduler.jobs import default_jobs
from scheduler.runner import ScheduledWork
from storage.database import UNAVAILABLE
from storage.leader import Leadership
from storage.retry import TRANSIENT

if TYPE_CHECKING:
    from channels.telegram.desk import TelegramDesk
    from gateway.wiring import System

log = logging.getLogger(__name__)


@dataclass
class Serving:
    senders: dict[str, Sender]
    health: SenderHealth
    desk: TelegramDesk | None = None
    scheduler: ScheduledWork | None = None
    alerts: AlertHooks | None = None
    _desk_watch: asyncio.Task[None] | None = field(default=None, repr=False)


async def start_serving(stack: AsyncExitStack, system: System, *, primary: bool = True) -> Serving:
    settings, pool, dsn = system.settings, system.database.pool, system.database.dsn
    http = await stack.enter_async_context(
        aiohttp.ClientSession(headers={"User-Agent": "truffles-gateway"}))
    chatflow = settings.chatflow
    serving = Serving(senders={"whatsapp": WhatsAppSender(
        ChatFlowClient(http, chatflow.api_base), system.tenants,
        chatflow.token.get_secret_value() if chatflow.token else None)}, health=SenderHealth())
    system.readiness.add("whatsapp", serving.health.check("whatsapp"))

    serving._desk_watch = asyncio.create_task(_start_desk_when_needed(system, serving, primary),
                                              name="telegram-desk-start")
    stack.push_async_callback(_stop_desk, serving)
    system.readiness.add("telegram", _telegram_check(serving, primary))

    assert system.alerter is not None
    alerts = AlertHooks(system.alerter, system.tenants, pool, serving.health,
                        desk_unreachable_minutes=settings.alert_desk_unreachable_minutes,
                        backlog_threshold=settings.alert_backlog_threshold)
    await alerts.start()
    stack.push_async_callback(alerts.stop)
    serving.alerts = alerts

    outbox = OutboxWorker(pool, dsn, serving.senders, store=system.store, tenants=system.tenants,
                          concurrency=settings.workers, on_outcome=serving.health.record,
                          on_given_up=alerts.delivery_given_up)
    await outbox.start()
    stack.push_async_callback(outbox.stop)
    system.store.deliver_locally(outbox.local_lease(), outbox.hand_over)

    leadership = Leadership(dsn)
    jobs = default_jobs(system.scheduler_ports, leadership, settings.scheduler)
    for job in jobs:
        metrics.scheduled(job)
    serving.scheduler = ScheduledWork(leadership, jobs, transient=TRANSIENT,
                                      on_run=metrics.record_job_run)
    system.readiness.add("scheduler", _scheduler_check(leadership))
    await leadership.check()
    await serving.scheduler.start()
    stack.push_async_callback(serving.scheduler.stop)

    if system.knowledge is not None:
        from gateway.knowledge_rebuild import follow_rebuilds

        follow = asyncio.create_task(follow_rebuilds(settings, pool, dsn, system.knowledge),
                                     name="knowledge-follow-rebuilds")
        stack.push_async_callback(_cancel, follow)

    assert system.processor is not None
    turns = TurnWorker(pool, dsn, system.processor, concurrency=settings.workers,
                       lease=timedelta(seconds=settings.turn_lease_seconds),
                       on_failed=alerts.turn_failed, limits=settings.turn_limits,
                       slots=system.ingest.turn_slots, room=system.ingest.room)
    await turns.start()
    stack.push_async_callback(turns.stop)
    return serving


async def _start_desk_when_needed(system: System, serving: Serving, primary: bool) -> None:
    """Start the desk once a client has a bot (checked again every rescan interval)."""
    settings = system.settings.telegram
    while True:
        try:
            clients = await system.tenants.all_clients()
            if any(c.settings.telegram_bot_token for c in clients):
                break
        except Exception as exc:  # the database blinked: ask again on the next tick
            log.warning("could not check for Telegram bots", extra={"error": type(exc).__name__})
        await asyncio.sleep(settings.rescan_seconds)
    # aiogram takes seconds to import: in a thread, so that webhooks and /health are answered
    # meanwhile (imported on the event loop, it held every request for that long after a start)
    await asyncio.to_thread(importlib.import_module, "channels.telegram.desk")
    from channels.telegram.desk import TelegramDesk
    from storage.repositories.desk import PgDeskRecords, PgUpdateLog
    from storage.store import PgDeliveryProgress

    pool = system.database.pool
    desk = TelegramDesk(
        settings, tenants=system.tenants, records=PgDeskRecords(pool),
        update_log=PgUpdateLog(pool), progress=PgDeliveryProgress(pool), desk=system.desk,
        relay=system.relay, knowledge=lambda: system.knowledge.current if system.knowledge else None,
        transient=TRANSIENT, unavailable=UNAVAILABLE)
    if primary:
        await desk.start()
        serving.senders["telegram"] = desk.sender
    serving.desk = desk
    log.info("telegram desk started", extra={"runs_bots": primary})


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _stop_desk(serving: Serving) -> None:
    if serving._desk_watch is not None:
        serving._desk_watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving._desk_watch
    if serving.desk is not None:
        await serving.desk.stop()


def _telegram_check(serving: Serving, primary: bool) -> Check:
    async def check() -> dict[str, object]:
        if serving.desk is None:
            return {"status": "disabled", "reason": "no client has a Telegram bot"}
        if not primary:
            return {"status": "ok", "reason": "the bots run in the primary process"}
        return {**await serving.desk.readiness(), **serving.health.check_now("telegram")}
    return check


def _scheduler_check(leadership: Leadership) -> Check:
    async def check() -> dict[str, object]:
        # A follower is ready too: it takes over when the leader goes away.
        return {"status": "ok", "leader": leadership.is_leader}
    return check
