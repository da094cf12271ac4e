"""Reminders and auto-close against the database, aged by moving `created_at` back."""

from __future__ import annotations

import asyncio

import asyncpg

from core.desk import Action, Actor, Desk
from core.models import Client
from scheduler.jobs import SchedulerPorts, reminder_pass
from storage.repositories import clients
from storage.store import PgStore
from tests.factories import make_client
from tests.scheduler.conftest import OpenHandover, age, reminders_sent


async def test_reminder_1_at_30_then_reminder_2_with_owners_at_60(
        db: asyncpg.Pool, store: PgStore, desk: Desk, ports: SchedulerPorts, salon: Client, open_handover: OpenHandover) -> None:
    conv, hid = await open_handover(salon, minutes_ago=29)
    assert (await reminder_pass(ports)).sent == 0

    await age(db, hid, 30)
    report = await reminder_pass(ports)
    assert (report.sent, report.failed) == (1, 0)
    [first] = await reminders_sent(db)
    assert first["idempotency_key"] == f"reminder1:{hid}"
    assert first["payload"] == {"conversation_id": str(conv), "text": "⏰ Заявка ждёт 30 мин",
                                "html": True, "reply_to_card": True, "handover_id": str(hid)}
    assert (await reminder_pass(ports)).sent == 0  # once only

    await age(db, hid, 60)
    assert (await reminder_pass(ports)).sent == 1
    second = (await reminders_sent(db))[1]
    assert second["idempotency_key"] == f"reminder2:{hid}"
    assert second["payload"]["text"].startswith("🔴 Срочно: заявка ждёт 60 мин")
    assert 'tg://user?id=111' in second["payload"]["text"] and 'tg://user?id=222' in second["payload"]["text"]
    row = await db.fetchrow("SELECT reminder_1_sent_at, reminder_2_sent_at FROM handovers WHERE id = $1", hid)
    assert row["reminder_1_sent_at"] is not None and row["reminder_2_sent_at"] is not None

    await age(db, hid, 600)
    assert (await reminder_pass(ports)).sent == 0
    assert len(await reminders_sent(db)) == 2


async def test_no_reminder_after_take(db: asyncpg.Pool, store: PgStore, desk: Desk, ports: SchedulerPorts, salon: Client,
                                      open_handover: OpenHandover) -> None:
    _, hid = await open_handover(salon, minutes_ago=31)
    assert (await desk.act(Action.TAKE, hid, Actor(5, "Айгуль"))).ok
    await age(db, hid, 120)
    assert (await reminder_pass(ports)).sent == 0
    assert await reminders_sent(db) == []


async def test_settings_changes_apply_on_the_next_pass(
        db: asyncpg.Pool, store: PgStore, desk: Desk, ports: SchedulerPorts, salon: Client, open_handover: OpenHandover) -> None:
    await open_handover(salon, minutes_ago=6)
    assert (await reminder_pass(ports)).sent == 0
    await clients.update_settings(db, salon.id, {"reminder_timeout_1": 5, "reminder_timeout_2": 10})
    assert (await reminder_pass(ports)).sent == 1
    assert (await reminders_sent(db))[0]["payload"]["text"] == "⏰ Заявка ждёт 6 мин"


async def test_reminders_off_means_none(db: asyncpg.Pool, store: PgStore, desk: Desk, ports: SchedulerPorts, salon: Client,
                                        open_handover: OpenHandover) -> None:
    await clients.update_settings(db, salon.id, {"enable_reminders": False})
    await open_handover(salon, minutes_ago=120)
    assert (await reminder_pass(ports)).sent == 0
    assert await reminders_sent(db) == []


async def test_owner_escalation_off_means_no_mention(
        db: asyncpg.Pool, store: PgStore, desk: Desk, ports: SchedulerPorts, salon: Client, open_handover: OpenHandover) -> None:
    await clients.update_settings(db, salon.id, {"enable_owner_escalation": False})
    await open_handover(salon, minutes_ago=61)
    await reminder_pass(ports)
    await reminder_pass(ports)
    texts = [r["payload"]["text"] for r in await reminders_sent(db)]
    assert len(texts) == 2 and texts[1].startswith("🔴 Срочно") and "tg://" not in texts[1]


async def test_no_reminder_without_a_topic_until_it_has_one(
        db: asyncpg.Pool, store: PgStore, desk: Desk, ports: SchedulerPorts, salon: Client, open_handover: OpenHandover) -> None:
    conv, _ = await open_handover(salon, topic=None, minutes_ago=40)
    assert (await reminder_pass(ports)).sent == 0
    await db.execute("UPDATE conversations SET telegram_topic_id = 9 WHERE id = $1", conv)
    assert (await reminder_pass(ports)).sent == 1


async def test_handovers_that_cannot_be_acted_on_do_not_starve_the_batch(
        db: asyncpg.Pool, store: PgStore, desk: Desk, ports: SchedulerPorts, salon: Client, open_handover: OpenHandover) -> None:
    for _ in range(3):  # older than the batch, no topic: no reminder can go out for these
        await open_handover(salon, topic=None, minutes_ago=50)
    for _ in range(2):  # reminder 1 sent, reminder 2 not due yet: nothing to do either
        _, waiting_hid = await open_handover(salon, minutes_ago=45)
        await db.execute("UPDATE handovers SET reminder_1_sent_at = now() WHERE id = $1", waiting_hid)
    _, hid = await open_handover(salon, minutes_ago=35)
    report = await reminder_pass(ports, batch=2)
    assert (report.sent, report.failed) == (1, 0)
    assert [r["idempotency_key"] for r in await reminders_sent(db)] == [f"reminder1:{hid}"]


async def test_auto_close_applies_without_a_topic_past_a_full_batch(
        db: asyncpg.Pool, store: PgStore, desk: Desk, ports: SchedulerPorts, salon: Client, open_handover: OpenHandover) -> None:
    other = await make_client(db, "clinic", telegram_chat_id=-1002)  # reminders on, no auto-close
    for _ in range(3):  # the oldest, no topic: nothing can be done for them
        await open_handover(other, topic=None, minutes_ago=200)
    await clients.update_settings(db, salon.id, {"auto_close_timeout": 90})
    for _ in range(3):
        await open_handover(salon, topic=None, minutes_ago=100)
    assert (await reminder_pass(ports, batch=2)).auto_closed == 2
    assert (await reminder_pass(ports, batch=2)).auto_closed == 1
    assert await db.fetchval(
        "SELECT count(*) FROM handovers WHERE status = 'resolved' AND client_id = $1", salon.id) == 3


async def test_concurrent_passes_send_each_reminder_exactly_once(
        db: asyncpg.Pool, store: PgStore, desk: Desk, ports: SchedulerPorts, salon: Client, open_handover: OpenHandover) -> None:
    handovers = [(await open_handover(salon, minutes_ago=35))[1] for _ in range(5)]
    reports = await asyncio.gather(*(reminder_pass(ports) for _ in range(4)))
    assert sum(r.sent for r in reports) == 5 and sum(r.failed for r in reports) == 0
    for hid in handovers:
        await age(db, hid, 65)
    reports = await asyncio.gather(*(reminder_pass(ports) for _ in range(4)))
    assert sum(r.sent for r in reports) == 5
    keys = [r["idempotency_key"] for r in await reminders_sent(db)]
    assert sorted(keys) == sorted([f"reminder1:{h}" for h in handovers] + [f"reminder2:{h}" for h in handovers])


async def test_auto_close_returns_to_bot_with_a_note(
        db: asyncpg.Pool, store: PgStore, desk: Desk, ports: SchedulerPorts, salon: Client, open_handover: OpenHandover) -> None:
    await clients.update_settings(db, salon.id, {"auto_close_timeout": 90})
    conv, hid = await open_handover(salon, minutes_ago=89)
    await reminder_pass(ports)
    assert await db.fetchval("SELECT status FROM handovers WHERE id = $1", hid) == "pending"

    await age(db, hid, 90)
    reports = await asyncio.gather(reminder_pass(ports), reminder_pass(ports))
    assert sum(r.auto_closed for r in reports) == 1
    handover = await db.fetchrow("SELECT status, resolution FROM handovers WHERE id = $1", hid)
    assert (handover["status"], handover["resolution"]) == ("resolved", "auto_closed")
    assert await db.fetchval("SELECT state FROM conversations WHERE id = $1", conv) == "bot_active"
    note = await db.fetchrow("SELECT payload FROM outbox WHERE idempotency_key = $1", f"close:{hid}:note")
    assert note["payload"]["text"] == "⏱ Заявка закрыта автоматически: никто не взял за 90 мин"
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE kind IN ('card_update', 'unpin_card')") == 2
    assert await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'close:auto_closed' AND actor_type = 'system'") == 1
