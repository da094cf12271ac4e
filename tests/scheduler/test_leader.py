"""One leader: the advisory lock on a dedicated connection, handed over when the leader dies, and
a scheduler that lets a running job finish on shutdown."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from core.models import Client
from scheduler.jobs import SchedulerPorts, default_jobs
from scheduler.runner import Job, ScheduledWork
from scheduler.settings import SchedulerSettings
from storage.leader import SCHEDULER_LOCK_KEY, Leadership
from tests.scheduler.conftest import OpenHandover, age, reminders_sent


async def kill_lock_holder(db: asyncpg.Pool) -> None:
    """Terminate the session holding the scheduler lock, as a crash or network cut would."""
    pid = await db.fetchval(
        """SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
              AND classid = $1 AND objid = $2
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())""",
        SCHEDULER_LOCK_KEY >> 32, SCHEDULER_LOCK_KEY & 0xFFFFFFFF)
    assert pid is not None
    assert await db.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)


async def test_one_leader_and_a_hand_over_when_it_dies(
        db: asyncpg.Pool, database_dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    first, second = Leadership(database_dsn), Leadership(database_dsn)
    try:
        with caplog.at_level(logging.INFO, logger="storage.leader"):
            assert await first.check() is True
            assert await second.check() is False
            assert await first.check() is True  # still holding

            await kill_lock_holder(db)
            assert await second.check() is True  # the server freed the lock with the session
            assert await first.check() is False  # notices the loss; reconnected, lock taken
            assert first.is_leader is False and second.is_leader is True
        messages = [r.getMessage() for r in caplog.records]
        assert messages.count("scheduler leadership acquired") == 2
        assert "scheduler leadership lost" in messages
        assert "scheduler lock connection lost" in messages
    finally:
        await first.release()
        await second.release()


async def test_two_schedulers_send_each_reminder_once_across_a_leader_change(
        db: asyncpg.Pool, database_dsn: str, ports: SchedulerPorts, salon: Client,
        open_handover: OpenHandover) -> None:
    hids = [(await open_handover(salon, minutes_ago=31))[1] for _ in range(3)]
    works = []
    for _ in range(2):
        leadership = Leadership(database_dsn)
        works.append(ScheduledWork(leadership, default_jobs(ports, leadership, SchedulerSettings())))
    try:
        results = await asyncio.gather(*(w.run_now("reminders") for w in works))
        assert sorted(r is None for r in results) == [False, True]  # the follower skipped
        leader = next(w for w, r in zip(works, results, strict=True) if r is not None)
        follower = next(w for w in works if w is not leader)

        await kill_lock_holder(db)
        assert await follower.leadership.check()  # its heartbeat comes first
        for hid in hids:
            await age(db, hid, 61)
        results = await asyncio.gather(*(w.run_now("reminders") for w in (leader, follower)))
        assert results[0] is None and results[1].sent == 3  # type: ignore[union-attr]
        assert follower.leadership.is_leader and not leader.leadership.is_leader

        keys = sorted(r["idempotency_key"] for r in await reminders_sent(db))
        assert keys == sorted([f"reminder1:{h}" for h in hids] + [f"reminder2:{h}" for h in hids])
    finally:
        for work in works:
            await work.leadership.release()


async def test_stop_waits_for_a_running_job(database_dsn: str) -> None:
    started, finished = asyncio.Event(), []

    async def slow_write() -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.append(True)

    work = ScheduledWork(Leadership(database_dsn), [Job("slow", 0.05, slow_write, leader_only=False)])
    await work.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    await work.stop()
    assert finished == [True]


async def test_jobs_skip_while_not_the_leader(database_dsn: str) -> None:
    runs: list[str] = []

    async def job() -> str:
        runs.append("ran")
        return "ran"

    holder = Leadership(database_dsn)
    assert await holder.check()
    try:
        work = ScheduledWork(Leadership(database_dsn), [Job("job", 60, job)])
        assert await work.run_now("job") is None and runs == []
        await holder.release()
        assert await work.run_now("job") == "ran"
        await work.leadership.release()
    finally:
        await holder.release()
