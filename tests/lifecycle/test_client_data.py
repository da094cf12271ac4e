"""A client exported, deleted with everything it owns, suspended and resumed; its branches
edited and deactivated; one customer's data exported and erased (issue 14.6)."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest
from aiohttp import web

from gateway import lifecycle, tenant_admin
from gateway.admin import create_admin_app
from gateway.keys import DB, KNOWLEDGE, SETTINGS, TENANTS
from gateway.settings import Settings
from gateway.wiring import open_knowledge
from storage.repositories import clients
from storage.store import PgTenants
from tests.conftest import ADMIN_TOKEN
from tests.lifecycle.conftest import run_cli
from tests.lifecycle.populate import populate, rows_mentioning
from tests.lifecycle.test_rebuild import handle


async def columns_referencing_clients(db: asyncpg.Pool) -> set[tuple[str, str]]:
    """Every column named client_id, and every column with a foreign key to clients."""
    rows = await db.fetch(
        """SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = 'public' AND column_name = 'client_id'
           UNION
           SELECT kcu.table_name, kcu.column_name
             FROM information_schema.table_constraints tc
             JOIN information_schema.key_column_usage kcu
               ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
             JOIN information_schema.constraint_column_usage ccu
               ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema
            WHERE tc.constraint_type = 'FOREIGN KEY' AND ccu.table_name = 'clients'""")
    return {(r["table_name"], r["column_name"]) for r in rows}


async def rows_of(db: asyncpg.Pool, client_id: UUID) -> dict[str, int]:
    counts = {}
    for table, column in sorted(await columns_referencing_clients(db)):
        counts[table] = await db.fetchval(
            f'SELECT count(*) FROM public."{table}" WHERE "{column}" = $1', client_id)
    return counts


@pytest.fixture
async def two_clients(db: asyncpg.Pool, settings: Settings):
    kb = await open_knowledge(settings, pool=db)
    try:
        salon = await populate(db, "salon", kb, settings.data_dir)
        spa = await populate(db, "spa", kb, settings.data_dir, phone="77019998877")
        yield kb, salon, spa
    finally:
        await kb.aclose()


async def test_deleting_a_client_leaves_no_row_vector_or_file_of_it(
        db: asyncpg.Pool, settings: Settings, two_clients) -> None:
    kb, salon, spa = two_clients
    salon_id, spa_id = str(salon.client.id), str(spa.client.id)
    before = await rows_of(db, salon.client.id)
    # the data covers every table that can hold a client's rows
    assert all(before.values()), before
    spa_before = await rows_mentioning(db, spa_id)
    spa_points = await kb.store.count("spa")

    result = await lifecycle.delete_client(db, "salon", kb, settings.data_dir, actor="test")

    assert result["vectors"] == 2 and result["media_files"] == 2
    assert not any((await rows_of(db, salon.client.id)).values())
    assert await rows_mentioning(db, salon_id) == {}  # not in any column of any table either
    assert await kb.store.count("salon") == 0 and await kb.list_documents("salon") == []
    assert await kb.store.count() == await kb.store.count("spa") == spa_points
    media = settings.data_dir / "media"
    assert not any(path.exists() for path in salon.media)
    assert not any(path.name.startswith(salon.client.id.hex) for path in media.iterdir())
    assert all(path.exists() for path in spa.media)
    assert await rows_mentioning(db, spa_id) == spa_before
    audit = await db.fetchrow("SELECT * FROM audit_log WHERE action = 'client_delete'")
    assert audit["client_id"] is None and audit["details"]["slug"] == "salon"
    assert audit["details"]["rows"]["messages"] == 2


async def test_client_delete_asks_for_confirmation_and_a_known_client(
        db: asyncpg.Pool, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    async with db.acquire() as conn:
        await clients.create(conn, "gone", "Gone")
    assert await run_cli(settings, "client", "delete", "gone") == 2
    assert "add --yes" in capsys.readouterr().err
    with pytest.raises(tenant_admin.NotFound):
        await run_cli(settings, "client", "delete", "nobody", "--yes")
    assert await run_cli(settings, "client", "delete", "gone", "--yes", "--json") == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == "gone"
    assert await clients.by_slug(db, "gone") is None


async def test_client_export_has_everything_but_secrets_unless_asked(
        db: asyncpg.Pool, settings: Settings, two_clients, tmp_path: Path) -> None:
    output = tmp_path / "salon.json"
    assert await run_cli(settings, "client", "export", "salon", "--output", str(output)) == 0
    document = json.loads(output.read_text("utf-8"))
    assert "1:salon-bot" not in output.read_text("utf-8")
    assert document["client"]["secrets_set"]["telegram_bot_token"] is True
    assert [d["doc_name"] for d in document["documents"]] == ["prices"]
    assert "6 000" in document["documents"][0]["content"]
    assert document["learned_answers"][0]["answer"] == "Да, можно."
    assert document["prompts"][0]["text"].startswith("Ты — администратор")
    assert [b["slug"] for b in document["branches"]] == ["north"]
    assert [r["name"] for r in document["replies"]] == ["hi"]
    assert {t["name"] for t in document["policy"]} >= {"payment", "complaint"}
    secret = await lifecycle.export_client(db, "salon", settings, with_secrets=True)
    assert secret["client"]["secrets"]["telegram_bot_token"] == "1:salon-bot"


async def test_a_customers_data_is_exported_then_erased(
        db: asyncpg.Pool, settings: Settings, two_clients) -> None:
    _, salon, spa = two_clients
    exported = await lifecycle.export_customer(db, "salon", "+7 (701) 123-45-67")
    [customer] = exported["customers"]
    [conversation] = customer["conversations"]
    assert [m["content"] for m in conversation["messages"]] == [
        "Здравствуйте, это Айгерим", "Здравствуйте!"]
    assert salon.phone in conversation["handovers"][0]["user_message"]
    assert conversation["inbound_events"] and conversation["audit"]

    result = await lifecycle.erase_customer(db, "salon", "8 701 123 45 67", settings.data_dir,
                                            actor="test")
    assert (result["messages"], result["events"], result["deliveries"],
            result["telegram_updates"], result["media_files"]) == (2, 1, 2, 1, 2)
    salon_rows = {table: rows for table, rows in (await rows_mentioning(db, salon.phone)).items()}
    assert salon_rows == {}  # the number is nowhere any more
    assert await rows_mentioning(db, "Айгерим, ваш заказ") == {
        "telegram_updates": 1}  # spa's customer's topic, not erased
    handover = await db.fetchrow("SELECT * FROM handovers WHERE conversation_id = $1",
                                 salon.conversation_id)
    assert handover["status"] == "resolved" and handover["user_message"] is None
    conv = await db.fetchrow("SELECT * FROM conversations WHERE id = $1", salon.conversation_id)
    assert conv["state"] == "bot_active" and conv["telegram_topic_id"] is None
    audit = await db.fetchrow("SELECT * FROM audit_log WHERE action = 'customer_erase'")
    assert audit["details"]["messages"] == 2 and salon.phone not in json.dumps(audit["details"])
    assert all(not path.exists() for path in salon.media)
    assert all(path.exists() for path in spa.media)
    assert await db.fetchval("SELECT count(*) FROM messages m JOIN conversations c "
                             "ON c.id = m.conversation_id WHERE c.client_id = $1",
                             spa.client.id) == 2
    with pytest.raises(tenant_admin.NotFound):
        await lifecycle.export_customer(db, "salon", salon.phone)


async def test_the_lifecycle_over_the_admin_api(
        aiohttp_client, db: asyncpg.Pool, settings: Settings, two_clients) -> None:
    kb, salon, _ = two_clients
    app = web.Application()
    app[SETTINGS], app[DB], app[KNOWLEDGE], app[TENANTS] = settings, db, handle(kb), PgTenants(db)
    app.add_subapp("/admin", create_admin_app())
    api = await aiohttp_client(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    suspended = await api.post("/admin/clients/salon/suspend")
    assert (await suspended.json())["status"] == "suspended"
    assert (await clients.by_slug(db, "salon")).suspended
    assert (await (await api.post("/admin/clients/salon/resume")).json())["status"] == "active"

    branch = await api.patch("/admin/clients/salon/branches/north",
                             json={"name": "Север-2", "active": False, "knowledge_tag": None})
    assert await branch.json() == {**await branch.json(), "name": "Север-2", "active": False,
                                   "knowledge_tag": None}
    bad = await api.patch("/admin/clients/salon/branches/north", json={"colour": "red"})
    assert bad.status == 400
    assert (await api.patch("/admin/clients/salon/branches/south", json={"name": "x"})).status == 404

    export = await (await api.get("/admin/clients/salon/export")).json()
    assert export["client"]["slug"] == "salon" and "secrets" not in export["client"]
    customer = await api.get(f"/admin/clients/salon/customers/{salon.phone}")
    assert customer.status == 200
    assert (await api.get("/admin/clients/salon/customers/77000000000")).status == 404
    erased = await api.delete(f"/admin/clients/salon/customers/{salon.phone}")
    assert (await erased.json())["messages"] == 2

    unconfirmed = await api.delete("/admin/clients/salon")
    assert unconfirmed.status == 400 and "confirm" in (await unconfirmed.json())["message"]
    deleted = await api.delete("/admin/clients/salon?confirm=salon")
    assert (await deleted.json())["vectors"] == 2
    assert (await api.get("/admin/clients/salon")).status == 404


async def test_branches_are_edited_and_deactivated_from_the_cli(
        db: asyncpg.Pool, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    async with db.acquire() as conn:
        client = await clients.create(conn, "salon", "Салон", chatflow_instance_id="main")
    await clients.add_branch(db, client.id, "north", "Север", instance_id="i-north")
    assert await run_cli(settings, "branch", "set", "salon", "north", "instance_id=i-2",
                         "telegram_chat_id=-1001", "phone=") == 0
    [branch] = await clients.branches(db, client.id)
    assert (branch.instance_id, branch.telegram_chat_id, branch.phone) == ("i-2", -1001, None)
    assert await clients.resolve_branch(db, client, "i-2") == branch
    assert await run_cli(settings, "branch", "deactivate", "salon", "north") == 0
    assert await clients.resolve_branch(db, client, "i-2") is None  # handled at client level
    with pytest.raises(tenant_admin.TenantError, match="whole number"):
        await run_cli(settings, "branch", "set", "salon", "north", "telegram_chat_id=abc")
    assert await run_cli(settings, "client", "suspend", "salon") == 0
    assert (await clients.by_slug(db, "salon")).suspended
    capsys.readouterr()
