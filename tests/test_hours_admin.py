"""Working hours and the new client settings for operators: the CLI (`client hours`), the admin
API, `/ready`, and the check `doctor` runs."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.app import create_app
from gateway.hours_admin import working_hours_problems
from storage.repositories import clients
from tests.factories import make_client
from tests.whatsapp.test_cli_and_legacy import _run, cli_env  # noqa: F401 (a fixture)

HOURS_YAML = """\
weekly:
  mon-fri: 10:00-20:00
  sat: "10:00-14:00, 15:00-18:00"
exceptions:
  2025-03-21: closed
  2025-12-31: 10:00-16:00
"""
CANONICAL = {
    "weekly": {"mon": "10:00-20:00", "tue": "10:00-20:00", "wed": "10:00-20:00",
               "thu": "10:00-20:00", "fri": "10:00-20:00", "sat": "10:00-14:00, 15:00-18:00",
               "sun": "closed"},
    "exceptions": {"2025-03-21": "closed", "2025-12-31": "10:00-16:00"},
}


async def test_client_hours_cli(cli_env, capsys, db, tmp_path) -> None:  # noqa: F811
    salon = await make_client(db, "salon_h")
    await clients.add_branch(db, salon.id, "north", "Север")
    good, bad = tmp_path / "hours.yaml", tmp_path / "bad.yaml"
    good.write_text(HOURS_YAML)
    bad.write_text("weekly:\n  mon: 20:00-10:00\n")

    def cli(*argv: str) -> tuple[int, str, str]:
        return _run(cli_env, capsys, list(argv))

    code, out, _ = await asyncio.to_thread(cli, "client", "hours", "salon_h", "--set", str(good))
    assert code == 0 and "mon: 10:00-20:00" in out and "timezone: Asia/Almaty" in out
    assert await db.fetchval("SELECT working_hours FROM client_settings") == CANONICAL

    code, out, _ = await asyncio.to_thread(cli, "client", "hours", "salon_h", "--branch", "north", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["inherited"] is True and shown["working_hours"] is None
    assert shown["always_open"] is False and "open_now" in shown

    code, _, err = await asyncio.to_thread(cli, "client", "hours", "salon_h", "--set", str(bad))
    assert code == 1 and "ends before it starts" in err
    assert await db.fetchval("SELECT working_hours FROM client_settings") == CANONICAL  # kept

    code, _, err = await asyncio.to_thread(cli, "client", "hours", "salon_h", "--branch", "south",
                                           "--set", str(good))
    assert code == 1 and "no branch 'south'" in err
    code, _, _ = await asyncio.to_thread(cli, "client", "hours", "salon_h", "--branch", "north",
                                         "--set", str(good))
    assert code == 0 and await db.fetchval("SELECT working_hours FROM branches") == CANONICAL
    code, out, _ = await asyncio.to_thread(cli, "client", "hours", "salon_h", "--clear", "--json")
    assert code == 0 and json.loads(out)["always_open"] is True
    assert await db.fetchval("SELECT working_hours FROM client_settings") is None


@pytest.fixture
async def api(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


async def test_hours_and_settings_through_the_admin_api(api, admin_headers, db) -> None:
    salon = await make_client(db, "salon_a")
    await clients.add_branch(db, salon.id, "north", "Север")
    put = await api.put("/admin/clients/salon_a/hours", headers=admin_headers,
                        json={"weekly": {"mon-fri": "10:00-20:00", "sat": "10:00-14:00, 15:00-18:00"},
                              "exceptions": {"2025-03-21": "closed", "2025-12-31": "10:00-16:00"}})
    assert put.status == 200 and (await put.json())["working_hours"] == CANONICAL
    branch = await api.put("/admin/clients/salon_a/hours?branch=north", headers=admin_headers,
                           json={"weekly": {"mon-sun": "09:00-21:00"}})
    assert (await branch.json())["working_hours"]["weekly"]["sun"] == "09:00-21:00"
    shown = await (await api.get("/admin/clients/salon_a", headers=admin_headers)).json()
    assert shown["working_hours"] == CANONICAL and shown["ask_rating"] is False
    assert shown["branches"][0]["working_hours"]["weekly"]["sun"] == "09:00-21:00"

    refused = await api.put("/admin/clients/salon_a/hours", headers=admin_headers,
                            json={"weekly": {"sun": "closed"}})
    assert refused.status == 400 and "never opens" in (await refused.json())["message"]
    missing = await api.get("/admin/clients/salon_a/hours?branch=south", headers=admin_headers)
    assert missing.status == 404

    for body, reason in (({"templates": {"kk": {"greting": "Сәлем"}}}, "unknown text"),
                         ({"templates": {"greeting": "Привет {name}"}}, "unknown placeholder"),
                         ({"working_hours": {"weekly": {"mon": "25:00-26:00"}}}, "not a time of day")):
        bad = await api.patch("/admin/clients/salon_a", headers=admin_headers, json=body)
        assert bad.status == 400 and reason in (await bad.json())["message"], body
    ok = await api.patch("/admin/clients/salon_a", headers=admin_headers, json={
        "ask_rating": True, "templates": {"greeting": "Привет!", "kk": {"greeting": "Сәлем!"}}})
    body = await ok.json()
    assert ok.status == 200 and body["ask_rating"] is True
    assert body["templates"] == {"greeting": "Привет!", "kk": {"greeting": "Сәлем!"}}

    cleared = await api.delete("/admin/clients/salon_a/hours?branch=north", headers=admin_headers)
    assert (await cleared.json())["inherited"] is True
    audit = await (await api.get("/admin/audit?client=salon_a", headers=admin_headers)).json()
    assert "branch_hours" in [a["action"] for a in audit]


async def test_ready_shows_each_clients_hours_and_doctor_finds_broken_ones(api, db) -> None:
    always = await make_client(db, "always")
    salon = await make_client(db, "salon_b", working_hours=CANONICAL)
    ready = await (await api.get("/ready")).json()
    hours = ready["checks"]["working_hours"]
    assert hours["status"] == "ok"
    assert hours["clients"]["always"] == {"always_open": True, "open_now": True}
    assert hours["clients"]["salon_b"]["always_open"] is False
    assert ("open_until" in hours["clients"]["salon_b"]) != ("next_opening" in hours["clients"]["salon_b"])
    assert await working_hours_problems(db) == []

    # edited by hand past the validation: reported, and the bot treats it as always open
    await db.execute("UPDATE client_settings SET working_hours = '{\"weekly\": {\"mon\": \"x\"}}' "
                     "WHERE client_id = $1", salon.id)
    await db.execute("UPDATE client_settings SET timezone = 'Mars/Olympus' WHERE client_id = $1",
                     always.id)
    problems = await working_hours_problems(db)
    assert problems == ["always: timezone: unknown timezone 'Mars/Olympus' (e.g. Asia/Almaty)",
                        "salon_b: working_hours: weekly.mon: expected \"HH:MM-HH:MM\" or \"closed\", "
                        "got 'x'"]
    response = await api.get("/ready")
    degraded = (await response.json())["checks"]["working_hours"]
    assert response.status == 200 and degraded["status"] == "degraded"
    assert degraded["problems"] == problems
