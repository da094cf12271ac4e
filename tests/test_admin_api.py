"""The operator API under /admin/."""

import pytest

from core.escalation import escalate
from core.models import TriggerType
from gateway.app import create_app
from storage.store import PgStore
from tests.factories import make_conversation


@pytest.fixture
async def api(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


async def test_client_lifecycle(api, admin_headers, db) -> None:
    created = await api.post("/admin/clients", headers=admin_headers, json={
        "slug": "clinic", "name": "Клиника", "chatflow_token": "secret-token", "reminder_timeout_1": 15})
    body = await created.json()
    assert created.status == 201, body
    assert body["reminder_timeout_1"] == 15 and body["chatflow_token_set"] is True
    assert "secret-token" not in str(body)
    again = await api.post("/admin/clients", headers=admin_headers, json={"slug": "clinic", "name": "x"})
    assert again.status == 409 and "already exists" in (await again.json())["message"]
    zone = await api.patch("/admin/clients/clinic", headers=admin_headers, json={"timezone": "Nowhere/Land"})
    assert zone.status == 400 and "unknown timezone" in (await zone.json())["message"]
    bad = await api.patch("/admin/clients/clinic", headers=admin_headers, json={"auto_close_timeout": 30})
    assert bad.status == 400 and "auto_close_timeout must be greater" in (await bad.json())["message"]
    unknown = await api.patch("/admin/clients/clinic", headers=admin_headers, json={"colour": "red"})
    assert unknown.status == 400
    ok = await api.patch("/admin/clients/clinic", headers=admin_headers,
                         json={"auto_close_timeout": 120, "status": "suspended"})
    assert (await ok.json())["status"] == "suspended"
    missing = await api.get("/admin/clients/nobody", headers=admin_headers)
    assert missing.status == 404
    listing = await api.get("/admin/clients", headers=admin_headers)
    assert [c["slug"] for c in await listing.json()] == ["clinic"]
    audit = await (await api.get("/admin/audit?client=clinic", headers=admin_headers)).json()
    assert [a["action"] for a in audit] == ["client_update", "client_create"]
    assert "secret-token" not in str(audit)


async def test_policy_branches_and_prompt(api, admin_headers, db) -> None:
    await api.post("/admin/clients", headers=admin_headers, json={"slug": "shop", "name": "Магазин"})
    default = await (await api.get("/admin/clients/shop/policy", headers=admin_headers)).json()
    assert "payment" in {t["name"] for t in default["topics"]}
    put = await api.put("/admin/clients/shop/policy", headers=admin_headers,
                        json={"topics": [{"name": "returns", "stems": ["возврат"]}]})
    assert [t["name"] for t in (await put.json())["topics"]] == ["returns"]
    invalid = await api.put("/admin/clients/shop/policy", headers=admin_headers, json={"topics": [{"name": "x"}]})
    assert invalid.status == 400
    for body in ({"nope": 1}, {"topic": []}, {"topics": "oops"}):
        refused = await api.put("/admin/clients/shop/policy", headers=admin_headers, json=body)
        assert refused.status == 400 and "'topics' list" in (await refused.json())["message"]
    kept = await (await api.get("/admin/clients/shop/policy", headers=admin_headers)).json()
    assert [t["name"] for t in kept["topics"]] == ["returns"]
    branch = await api.post("/admin/clients/shop/branches", headers=admin_headers,
                            json={"slug": "mega", "name": "ТРЦ Мега", "instance_id": "i-1", "knowledge_tag": "mega"})
    assert branch.status == 201
    dup = await api.post("/admin/clients/shop/branches", headers=admin_headers,
                         json={"slug": "mega2", "name": "x", "instance_id": "i-1"})
    assert dup.status == 409
    prompt = await api.put("/admin/clients/shop/prompt", headers=admin_headers, json={"text": "Ты продавец."})
    assert prompt.status == 200
    assert await db.fetchval("SELECT text FROM prompts WHERE is_active") == "Ты продавец."


async def test_handovers_listing(api, admin_headers, db) -> None:
    await api.post("/admin/clients", headers=admin_headers, json={"slug": "salon", "name": "Салон"})
    client_id = await db.fetchval("SELECT id FROM clients")
    conv = await make_conversation(db, client_id)
    async with PgStore(db).transaction() as tx:
        await escalate(tx, conv, trigger_type=TriggerType.INTENT, trigger_value="human_request",
                       user_message="позовите менеджера")
    rows = await (await api.get("/admin/handovers?client=salon", headers=admin_headers)).json()
    assert len(rows) == 1 and rows[0]["status"] == "pending" and rows[0]["user_message"] == "позовите менеджера"
    resolved = await (await api.get("/admin/handovers?status=resolved", headers=admin_headers)).json()
    assert resolved == []
    bad = await api.get("/admin/handovers?status=weird", headers=admin_headers)
    assert bad.status == 400


async def test_flood_limits_are_validated_and_fall_back_to_the_defaults(api, admin_headers,
                                                                        db) -> None:
    await api.post("/admin/clients", headers=admin_headers, json={"slug": "busy", "name": "Занятой"})
    for body, message in [
        ({"max_turn_chars": 50}, "max_turn_chars must be a whole number between 200 and 20000"),
        ({"flood_messages_per_minute": 2.5}, "flood_messages_per_minute must be a whole number"),
        ({"max_events_per_turn": "many"}, "max_events_per_turn must be int"),
        ({"max_events_per_turn": True}, "max_events_per_turn must be a whole number"),
    ]:
        refused = await api.patch("/admin/clients/busy", headers=admin_headers, json=body)
        assert refused.status == 400 and message in (await refused.json())["message"]
    ok = await api.patch("/admin/clients/busy", headers=admin_headers,
                         json={"max_turn_chars": 6000, "max_events_per_turn": "5"})
    shown = await ok.json()
    assert ok.status == 200
    assert (shown["max_turn_chars"], shown["max_events_per_turn"]) == (6000, 5)
    assert shown["flood_messages_per_minute"] is None  # the process default
    reset = await api.patch("/admin/clients/busy", headers=admin_headers,
                            json={"max_turn_chars": None})
    assert (await reset.json())["max_turn_chars"] is None
