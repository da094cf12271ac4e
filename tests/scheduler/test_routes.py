"""The scheduler inside the app: `POST /reminders/process`, and two app instances on one database.
`db` comes first so that the apps stop before its teardown empties the tables."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestClient

from core.models import Client
from gateway.app import create_app
from gateway.keys import SCHEDULER
from gateway.settings import Settings
from tests.scheduler.conftest import OpenHandover, age, reminders_sent


async def test_reminders_process_needs_the_admin_token_and_returns_counts(
        db: asyncpg.Pool, aiohttp_client, settings: Settings, admin_headers: dict[str, str],
        salon: Client, open_handover: OpenHandover) -> None:
    client: TestClient = await aiohttp_client(create_app(settings))
    await open_handover(salon, minutes_ago=31)

    refused = await client.post("/reminders/process")
    assert refused.status == 403
    assert await reminders_sent(db) == []

    response = await client.post("/reminders/process", headers=admin_headers)
    assert response.status == 200
    assert await response.json() == {"sent": 1, "failed": 0, "auto_closed": 0}
    again = await client.post("/reminders/process", headers=admin_headers)
    assert (await again.json())["sent"] == 0


async def test_two_app_instances_send_each_reminder_once(
        db: asyncpg.Pool, aiohttp_client, settings: Settings, tmp_path: Path, admin_headers: dict[str, str],
        salon: Client, open_handover: OpenHandover) -> None:
    apps = [await aiohttp_client(create_app(settings.model_copy(update={"data_dir": tmp_path / name})))
            for name in ("one", "two")]
    leaders = [c.app[SCHEDULER].leadership.is_leader for c in apps]
    assert sorted(leaders) == [False, True]
    hids = [(await open_handover(salon, minutes_ago=31))[1] for _ in range(3)]

    # Both schedulers' passes and an external cron on both replicas, all at once.
    await asyncio.gather(*(c.app[SCHEDULER].run_now("reminders") for c in apps),
                         *(c.post("/reminders/process", headers=admin_headers) for c in apps))
    for hid in hids:
        await age(db, hid, 61)
    await asyncio.gather(*(c.app[SCHEDULER].run_now("reminders") for c in apps),
                         *(c.post("/reminders/process", headers=admin_headers) for c in apps))

    keys = [r["idempotency_key"] for r in await reminders_sent(db)]
    assert sorted(keys) == sorted([f"reminder1:{h}" for h in hids] + [f"reminder2:{h}" for h in hids])
