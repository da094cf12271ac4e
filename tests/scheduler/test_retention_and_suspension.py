"""Message history past its retention is deleted by the scheduler (leader only); a suspended
client's requests get no reminders until it resumes (issue 14.6)."""

from __future__ import annotations

import asyncpg

from core.models import Client
from scheduler.jobs import SchedulerPorts, default_jobs, reminder_pass, retention_pass
from scheduler.settings import SchedulerSettings
from storage.repositories import clients
from storage.repositories.maintenance import PgMaintenance
from tests.factories import make_client, make_conversation
from tests.scheduler.conftest import OpenHandover

AGES = (40, 10, 1)  # days


async def _history(db: asyncpg.Pool, client: Client) -> None:
    conv = await make_conversation(db, client.id)
    for days in AGES:
        await db.execute(
            """INSERT INTO messages (conversation_id, role, content, created_at)
               VALUES ($1, 'user', $2, now() - make_interval(days => $3))""",
            conv, f"{days} days old", days)
        for status in ("done", "queued"):
            await db.execute(
                """INSERT INTO inbound_events (client_id, channel, provider_message_id, conversation_id,
                                               payload, status, received_at)
                   VALUES ($1, 'whatsapp', $2, $3, '{}', $4, now() - make_interval(days => $5))""",
                client.id, f"{status}-{days}", conv, status, days)


async def _kept(db: asyncpg.Pool, client: Client) -> tuple[list[str], int]:
    messages = [r["content"] for r in await db.fetch(
        """SELECT m.content FROM messages m JOIN conversations c ON c.id = m.conversation_id
            WHERE c.client_id = $1 ORDER BY m.created_at""", client.id)]
    events = await db.fetchval("SELECT count(*) FROM inbound_events WHERE client_id = $1", client.id)
    return messages, events


async def test_history_past_each_clients_retention_is_deleted(db: asyncpg.Pool) -> None:
    week = await make_client(db, "week", message_retention_days=7)
    default = await make_client(db, "default")
    forever = await make_client(db, "forever", message_retention_days=0)
    for client in (week, default, forever):
        await _history(db, client)
    maintenance = PgMaintenance(db)

    assert await retention_pass(maintenance, 0) == (2, 2)  # only the week client's own setting
    assert await _kept(db, week) == (["1 days old"], 4)  # queued events wait to be handled
    assert await _kept(db, default) == (["40 days old", "10 days old", "1 days old"], 6)

    assert await retention_pass(maintenance, 30) == (1, 1)  # MESSAGE_RETENTION_DAYS=30
    assert await _kept(db, default) == (["10 days old", "1 days old"], 5)
    assert await _kept(db, forever) == (["40 days old", "10 days old", "1 days old"], 6)
    assert await retention_pass(maintenance, 30) == (0, 0)


def test_the_retention_job_runs_on_the_leader_with_the_configured_days(
        ports: SchedulerPorts) -> None:
    class Leadership:
        async def check(self) -> bool:
            return True

    jobs = {job.name: job for job in default_jobs(
        ports, Leadership(), SchedulerSettings(message_retention_days=90))}  # type: ignore[arg-type]
    assert jobs["retention"].leader_only and jobs["retention"].every_seconds == 3600


async def test_a_suspended_clients_requests_wait_without_reminders(
        db: asyncpg.Pool, ports: SchedulerPorts, salon: Client,
        open_handover: OpenHandover) -> None:
    await open_handover(salon, minutes_ago=45)
    await clients.set_status(db, salon.id, "suspended")
    assert (await reminder_pass(ports)).sent == 0
    await clients.set_status(db, salon.id, "active")
    assert (await reminder_pass(ports)).sent == 1
