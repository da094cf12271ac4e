"""`doctor` inside the running gateway: the "clients" entry of `/ready` (cached, never waiting
for a peer, degraded and not down when a client is broken) and `GET /admin/clients/{slug}/doctor`."""

from __future__ import annotations

from gateway.app import create_app
from gateway.doctor_cache import DoctorCache
from gateway.keys import DOCTOR
from gateway.wiring import open_doctor
from tests.factories import make_client
from tests.fakes import wait_for
from tests.ops.test_doctor_checks import STRONG_SECRET
from tests.telegram.fakes import GROUP_A, TOKEN_A, FakeTelegram
from tests.whatsapp.conftest import started


async def salon(db):
    return await make_client(db, "salon", webhook_secret=STRONG_SECRET, telegram_bot_token=TOKEN_A,
                             telegram_chat_id=GROUP_A)


async def test_ready_shows_a_broken_client_as_degraded(ops_settings, tg: FakeTelegram, db,
                                                       aiohttp_client) -> None:
    await salon(db)
    tg.bot_member[GROUP_A] = {"can_pin_messages": False}
    client = await started(await aiohttp_client(create_app(ops_settings)))

    first = await client.get("/ready")
    assert first.status == 200  # answered at once, without waiting for the checks
    assert (await first.json())["checks"]["clients"]["checked_at"] is None

    async def checked() -> dict | None:
        entry = (await (await client.get("/ready")).json())["checks"]["clients"]
        return entry if entry["checked_at"] else None
    entry = await wait_for(checked)
    response = await client.get("/ready")
    assert response.status == 200  # one client's broken group never takes the gateway out
    assert entry["status"] == "degraded"
    assert entry["clients"]["salon"] == {"status": "degraded",
                                         "failed": ["telegram_rights", "knowledge"]}


async def test_ready_asks_the_peers_at_most_once_per_minute(ops_settings, tg: FakeTelegram,
                                                            db) -> None:
    await salon(db)
    now = [0.0]
    async with open_doctor(ops_settings) as doctor:
        cache = DoctorCache(doctor, ttl=60, clock=lambda: now[0])
        check = cache.readiness_check()
        await check()
        await wait_for(lambda: cache.summary()["checked_at"])
        for _ in range(20):
            assert (await check())["clients"]["salon"]["status"] == "degraded"  # no knowledge
        assert len(tg.of("getMe")) == 1
        now[0] += 61
        await check()
        await wait_for(lambda: len(tg.of("getMe")) == 2)
        await cache.stop()


async def test_the_admin_endpoint_reports_one_client(ops_settings, tg: FakeTelegram, db,
                                                     aiohttp_client, admin_headers) -> None:
    await salon(db)
    client = await started(await aiohttp_client(create_app(ops_settings)))
    url = "/admin/clients/salon/doctor"
    assert (await client.get(url)).status == 403
    assert (await client.get("/admin/clients/nobody/doctor", headers=admin_headers)).status == 404

    report = await (await client.get(url, headers=admin_headers)).json()
    assert report["client"] == "salon" and report["ok"] is False
    by_name = {c["name"]: c for c in report["checks"]}
    assert {"database", "embedder", "vector_store", "llm"} <= set(by_name)
    assert by_name["knowledge"]["status"] == "fail" and by_name["knowledge"]["scope"] == "salon"
    assert "knowledge ingest --client salon" in by_name["knowledge"]["hint"]

    put = await client.put("/admin/knowledge/salon/documents/prices", headers=admin_headers,
                           data="Маникюр стоит 5 000 тенге.".encode())
    assert put.status == 200
    cached = await (await client.get(url, headers=admin_headers)).json()
    assert cached["ok"] is False  # a minute has not passed: the same results
    fresh = await (await client.get(url + "?fresh=1", headers=admin_headers)).json()
    assert fresh["ok"] is True, [c for c in fresh["checks"] if c["status"] != "pass"]
    assert isinstance(client.app[DOCTOR], DoctorCache)
