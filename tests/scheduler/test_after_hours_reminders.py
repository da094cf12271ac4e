"""The reminder pass against the database with an injected clock: a request opened on Friday
evening outside working hours is first reminded on Saturday at 10:00 + N minutes, never at
night; a holiday shifts it; a branch's own hours count for its requests."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from core.hours import canonical
from core.models import Client
from scheduler.jobs import SchedulerPorts, reminder_pass
from storage.repositories import clients
from tests.factories import ManualClock
from tests.scheduler.conftest import OpenHandover, reminders_sent

ALMATY = ZoneInfo("Asia/Almaty")
SALON = {"weekly": {"mon-fri": "10:00-20:00", "sat": "10:00-18:00"}}


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """January 2025 in Almaty: the 10th is a Friday, the 11th Saturday, the 13th Monday."""
    return datetime(2025, 1, day, hour, minute, tzinfo=ALMATY)


@pytest.fixture
async def clocked(ports: SchedulerPorts, salon: Client, db: asyncpg.Pool
                  ) -> tuple[SchedulerPorts, ManualClock]:
    await clients.update_settings(db, salon.id, {"working_hours": canonical(SALON)})
    clock = ManualClock(local(10, 21))
    return dataclasses.replace(ports, clock=clock), clock


async def _opened_at(db: asyncpg.Pool, handover_id: UUID, at: datetime) -> None:
    await db.execute("UPDATE handovers SET created_at = $2 WHERE id = $1", handover_id, at)


async def _texts(db: asyncpg.Pool) -> list[str]:
    return [r["payload"]["text"] for r in await reminders_sent(db)]


async def test_friday_evening_request_waits_for_saturday_ten_plus_n(
        db: asyncpg.Pool, clocked: tuple[SchedulerPorts, ManualClock], salon: Client,
        open_handover: OpenHandover) -> None:
    ports, clock = clocked
    _, hid = await open_handover(salon)
    await _opened_at(db, hid, local(10, 21))
    for night in (local(10, 21, 30), local(10, 23), local(11, 3), local(11, 9, 59), local(11, 10, 29)):
        clock.at = night
        assert (await reminder_pass(ports)).sent == 0, night
    assert await reminders_sent(db) == []

    clock.at = local(11, 10, 30)
    assert (await reminder_pass(ports)).sent == 1
    assert await _texts(db) == ["⏰ Заявка ждёт 30 мин рабочего времени (пришла пт 10.01 21:00)"]
    clock.at = local(11, 10, 59)
    assert (await reminder_pass(ports)).sent == 0
    clock.at = local(11, 11)
    assert (await reminder_pass(ports)).sent == 1  # the urgent one, owners tagged, in the morning
    urgent = (await _texts(db))[1]
    assert urgent.startswith("🔴 Срочно: заявка ждёт 60 мин рабочего времени")
    assert "tg://user?id=111" in urgent


async def test_a_holiday_shifts_the_first_reminder(
        db: asyncpg.Pool, clocked: tuple[SchedulerPorts, ManualClock], salon: Client,
        open_handover: OpenHandover) -> None:
    ports, clock = clocked
    await clients.update_settings(db, salon.id, {"working_hours": canonical(
        {**SALON, "exceptions": {"2025-01-11": "closed"}})})
    _, hid = await open_handover(salon)
    await _opened_at(db, hid, local(10, 21))
    for moment in (local(11, 10, 30), local(11, 15), local(12, 12), local(13, 10, 29)):
        clock.at = moment
        assert (await reminder_pass(ports)).sent == 0, moment
    clock.at = local(13, 10, 30)
    assert (await reminder_pass(ports)).sent == 1
    assert "(пришла пт 10.01 21:00)" in (await _texts(db))[0]


async def test_a_branch_with_its_own_hours_is_reminded_by_them(
        db: asyncpg.Pool, clocked: tuple[SchedulerPorts, ManualClock], salon: Client,
        open_handover: OpenHandover) -> None:
    ports, clock = clocked
    branch = await clients.add_branch(db, salon.id, "north", "Север")
    await clients.set_branch_hours(db, branch.id, canonical({"weekly": {"mon-sun": "08:00-23:00"}}))
    _, client_hid = await open_handover(salon)
    branch_conv, branch_hid = await open_handover(salon)
    await db.execute("UPDATE conversations SET branch_id = $2 WHERE id = $1", branch_conv, branch.id)
    for hid in (client_hid, branch_hid):
        await _opened_at(db, hid, local(10, 21))
    clock.at = local(10, 21, 30)  # the branch is open until 23:00
    assert (await reminder_pass(ports)).sent == 1
    assert [r["idempotency_key"] for r in await reminders_sent(db)] == [f"reminder1:{branch_hid}"]


async def test_after_hours_auto_close_waits_for_working_time(
        db: asyncpg.Pool, clocked: tuple[SchedulerPorts, ManualClock], salon: Client,
        open_handover: OpenHandover) -> None:
    ports, clock = clocked
    await clients.update_settings(db, salon.id, {"enable_reminders": False, "auto_close_timeout": 90})
    _, hid = await open_handover(salon)
    await _opened_at(db, hid, local(10, 21))
    clock.at = local(11, 9)
    assert (await reminder_pass(ports)).auto_closed == 0
    clock.at = local(11, 11, 30)
    assert (await reminder_pass(ports)).auto_closed == 1
    assert await db.fetchval("SELECT resolution FROM handovers WHERE id = $1", hid) == "auto_closed"
