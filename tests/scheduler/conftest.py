"""Pending handovers with a topic, aged by moving `created_at` back (no test waits for minutes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg
import pytest

from core.desk import Desk
from core.escalation import escalate
from core.models import Client, TriggerType
from scheduler.jobs import SchedulerPorts
from storage.repositories.maintenance import PgMaintenance
from storage.retry import TRANSIENT
from storage.store import PgStore, PgTenants
from tests.factories import make_client

OWNERS = (111, 222)
OpenHandover = Callable[..., Awaitable[tuple[UUID, UUID]]]


@pytest.fixture
def store(db: asyncpg.Pool) -> PgStore:
    return PgStore(db)


@pytest.fixture
def desk(store: PgStore) -> Desk:
    return Desk(store)


@pytest.fixture
def ports(db: asyncpg.Pool, store: PgStore, desk: Desk) -> SchedulerPorts:
    return SchedulerPorts(store, PgTenants(db), PgMaintenance(db), desk, transient=TRANSIENT)


@pytest.fixture
async def salon(db: asyncpg.Pool) -> Client:
    # No bot token: nothing here talks to Telegram (reminders only need the customer's topic).
    return await make_client(db, "salon", telegram_chat_id=-1001, owner_telegram_ids=list(OWNERS))


@pytest.fixture
def open_handover(db: asyncpg.Pool, store: PgStore) -> OpenHandover:
    """(conversation id, handover id) of a new pending handover, in a topic unless topic=None."""
    counter = iter(range(10_000))

    async def open_(client: Client, *, topic: int | None = 7, minutes_ago: float = 0) -> tuple[UUID, UUID]:
        jid = f"7701{next(counter):07d}@s.whatsapp.net"
        user_id = await db.fetchval(
            "INSERT INTO users (client_id, remote_jid) VALUES ($1, $2) RETURNING id", client.id, jid)
        conv = await db.fetchval(
            """INSERT INTO conversations (client_id, user_id, telegram_topic_id, telegram_chat_id)
               VALUES ($1, $2, $3, -1001) RETURNING id""", client.id, user_id, topic)
        async with store.transaction() as tx:
            escalation = await escalate(tx, conv, trigger_type=TriggerType.INTENT,
                                        trigger_value="human_request", user_message="позовите менеджера")
        await age(db, escalation.handover.id, minutes_ago)
        return conv, escalation.handover.id

    return open_


async def age(db: asyncpg.Pool, handover_id: UUID, minutes: float) -> None:
    """Make the handover `minutes` old by the database's clock."""
    await db.execute("UPDATE handovers SET created_at = now() - make_interval(secs => $2::float8) WHERE id = $1",
                     handover_id, minutes * 60)


async def outbox_rows(db: asyncpg.Pool, kind: str = "topic_message") -> list[asyncpg.Record]:
    return await db.fetch("SELECT * FROM outbox WHERE kind = $1 ORDER BY id", kind)


async def reminders_sent(db: asyncpg.Pool) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT idempotency_key, payload FROM outbox
            WHERE idempotency_key LIKE 'reminder%' ORDER BY id""")
