"""Self-heal: every breach of PRODUCT.md §3 that can be written around the database's own guards
(here: triggers disabled with session_replication_role, a CHECK dropped) is repaired and audited;
a healthy database is left exactly as it was."""

from __future__ import annotations

import argparse
import json
from uuid import UUID

import asyncpg
import pytest

from core.desk import Action, Actor, Desk
from core.heal import BreachKind
from core.models import Client
from gateway.scheduler_cli import heal as heal_command
from gateway.settings import Settings
from scheduler.jobs import SchedulerPorts, heal_pass
from storage.store import PgStore
from tests.scheduler.conftest import OpenHandover


async def conversation(db: asyncpg.Pool, client: Client, n: int, *, topic: int | None = None) -> UUID:
    user_id = await db.fetchval("INSERT INTO users (client_id, remote_jid) VALUES ($1, $2) RETURNING id",
                                client.id, f"7702{n:07d}@s.whatsapp.net")
    return await db.fetchval(
        "INSERT INTO conversations (client_id, user_id, telegram_topic_id) VALUES ($1, $2, $3) RETURNING id",
        client.id, user_id, topic)


async def without_triggers(db: asyncpg.Pool, sql: str, *args: object) -> object:
    """Run `sql` with the state-matching trigger off, as old or hand-edited data would be."""
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        return await conn.fetchval(sql, *args)


async def force_state(db: asyncpg.Pool, conv: UUID, state: str) -> None:
    await without_triggers(db, "UPDATE conversations SET state = $2 WHERE id = $1", conv, state)


async def force_handover(db: asyncpg.Pool, client: Client, conv: UUID, status: str, *,
                         stuck_reminders: bool = False) -> UUID:
    return await without_triggers(  # type: ignore[return-value]
        db,
        """INSERT INTO handovers (conversation_id, client_id, status, trigger_type, assigned_to,
                                  taken_at, reminder_1_sent_at, reminder_2_sent_at, created_at)
           VALUES ($1, $2, $3, 'intent', CASE WHEN $3 = 'active' THEN 5 END,
                   CASE WHEN $3 = 'active' THEN now() END,
                   CASE WHEN $4 THEN now() - interval '2 days' END,
                   CASE WHEN $4 THEN now() - interval '2 days' END,
                   now() - interval '3 days')
           RETURNING id""",
        conv, client.id, status, stuck_reminders)


async def snapshot(db: asyncpg.Pool) -> dict[str, list[asyncpg.Record]]:
    return {table: await db.fetch(f"SELECT * FROM {table} ORDER BY 1")
            for table in ("conversations", "handovers", "outbox", "audit_log")}


async def test_a_healthy_database_is_left_untouched(
        db: asyncpg.Pool, store: PgStore, desk: Desk, ports: SchedulerPorts, salon: Client, open_handover: OpenHandover) -> None:
    await open_handover(salon, minutes_ago=45)  # pending
    _, taken = await open_handover(salon)
    assert (await desk.act(Action.TAKE, taken, Actor(5, "Айгуль"))).ok  # manager_active
    _, returned = await open_handover(salon)
    assert (await desk.act(Action.RETURN, returned, Actor(5, "Айгуль"))).ok  # back to bot_active
    await conversation(db, salon, 1)  # never escalated
    before = await snapshot(db)

    report = await heal_pass(ports)

    assert (report.repairs, report.failed) == ([], 0)
    assert await snapshot(db) == before


async def test_every_constructible_breach_is_repaired_and_logged(
        db: asyncpg.Pool, store: PgStore, desk: Desk, ports: SchedulerPorts, salon: Client) -> None:
    pending_alone = await conversation(db, salon, 1)
    await force_state(db, pending_alone, "pending")
    manager_alone = await conversation(db, salon, 2, topic=12)
    await force_state(db, manager_alone, "manager_active")
    bot_with_pending = await conversation(db, salon, 3, topic=13)
    h_bot_pending = await force_handover(db, salon, bot_with_pending, "pending")
    bot_with_stuck = await conversation(db, salon, 4, topic=14)
    h_bot_stuck = await force_handover(db, salon, bot_with_stuck, "active", stuck_reminders=True)
    pending_taken = await conversation(db, salon, 5, topic=15)
    await force_state(db, pending_taken, "pending")
    h_pending_taken = await force_handover(db, salon, pending_taken, "active")
    pending_taken_no_topic = await conversation(db, salon, 6)
    await force_state(db, pending_taken_no_topic, "pending")
    h_no_topic = await force_handover(db, salon, pending_taken_no_topic, "active")
    manager_with_pending = await conversation(db, salon, 7, topic=17)
    await force_state(db, manager_with_pending, "manager_active")
    h_manager_pending = await force_handover(db, salon, manager_with_pending, "pending")
    healthy = await conversation(db, salon, 8)

    report = await heal_pass(ports)

    assert report.failed == 0
    kinds = {r.conversation_id: r.kind for r in report.repairs}
    assert kinds == {
        pending_alone: BreachKind.PENDING_WITHOUT_HANDOVER,
        manager_alone: BreachKind.MANAGER_ACTIVE_WITHOUT_HANDOVER,
        bot_with_pending: BreachKind.BOT_ACTIVE_WITH_OPEN_HANDOVER,
        bot_with_stuck: BreachKind.BOT_ACTIVE_WITH_OPEN_HANDOVER,
        pending_taken: BreachKind.PENDING_WITH_ACTIVE_HANDOVER,
        pending_taken_no_topic: BreachKind.PENDING_WITH_ACTIVE_HANDOVER,
        manager_with_pending: BreachKind.MANAGER_ACTIVE_WITH_PENDING_HANDOVER,
    }
    states = {r["id"]: r["state"] for r in await db.fetch("SELECT id, state FROM conversations")}
    assert states[pending_taken] == "manager_active"  # the manager who took it keeps it
    assert all(states[c] == "bot_active" for c in kinds if c != pending_taken)
    assert states[healthy] == "bot_active"
    handovers = {r["id"]: (r["status"], r["resolution"]) for r in await db.fetch("SELECT * FROM handovers")}
    for hid in (h_bot_pending, h_bot_stuck, h_no_topic, h_manager_pending):
        assert handovers[hid] == ("resolved", "healed")
        assert await db.fetchval("SELECT count(*) FROM outbox WHERE idempotency_key = $1", f"close:{hid}:note") == 1
    assert handovers[h_pending_taken] == ("active", None)
    audit = await db.fetch("SELECT action, actor_type, conversation_id FROM audit_log WHERE action LIKE 'heal:%'")
    assert sorted((r["conversation_id"], r["action"]) for r in audit) == sorted(
        (c, f"heal:{k}") for c, k in kinds.items())
    assert {r["actor_type"] for r in audit} == {"system"}
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE conversation_id = $1", healthy) == 0

    again = await heal_pass(ports)
    assert again.repairs == [] and again.failed == 0


async def test_manager_active_without_topic_once_the_check_was_dropped(
        db: asyncpg.Pool, store: PgStore, desk: Desk, ports: SchedulerPorts, salon: Client) -> None:
    conv = await conversation(db, salon, 1, topic=21)
    handover = await force_handover(db, salon, conv, "active")
    await force_state(db, conv, "manager_active")
    await db.execute("ALTER TABLE conversations DROP CONSTRAINT manager_active_has_topic")
    try:
        await db.execute("UPDATE conversations SET telegram_topic_id = NULL WHERE id = $1", conv)
        report = await heal_pass(ports)
    finally:
        await db.execute("""ALTER TABLE conversations ADD CONSTRAINT manager_active_has_topic
                            CHECK (state <> 'manager_active' OR telegram_topic_id IS NOT NULL)""")
    assert [r.kind for r in report.repairs] == [BreachKind.MANAGER_ACTIVE_WITHOUT_TOPIC]
    assert await db.fetchval("SELECT state FROM conversations WHERE id = $1", conv) == "bot_active"
    assert await db.fetchval("SELECT resolution FROM handovers WHERE id = $1", handover) == "healed"


@pytest.mark.parametrize("as_json", [True, False])
async def test_heal_command_reports_what_it_did(
        db: asyncpg.Pool, salon: Client, settings: Settings, capsys: pytest.CaptureFixture[str],
        as_json: bool) -> None:
    conv = await conversation(db, salon, 1)
    await force_state(db, conv, "pending")

    assert await heal_command(argparse.Namespace(json=as_json), settings) == 0
    out = capsys.readouterr().out
    if as_json:
        document = json.loads(out)
        assert document["repaired"] == 1 and document["failed"] == 0
        assert document["repairs"][0] | {"client_id": None, "handover_id": None} == {
            "kind": "pending_without_handover", "fix": "return_to_bot", "client_id": None,
            "conversation_id": str(conv), "handover_id": None, "old_state": "pending",
            "new_state": "bot_active"}
    else:
        assert f"repaired pending_without_handover: conversation {conv} pending -> bot_active" in out
        assert "1 repaired, 0 failed" in out

    assert await heal_command(argparse.Namespace(json=False), settings) == 0
    assert "all conversations are consistent" in capsys.readouterr().out
