"""Every invariant the database holds rejects a bad row (PRODUCT.md §2–§8)."""

import asyncpg
import pytest

from tests.factories import make_client, make_conversation


async def _rejects(db: asyncpg.Pool, sql: str, *args, error=asyncpg.IntegrityConstraintViolationError):
    async with db.acquire() as conn:
        with pytest.raises(error):
            async with conn.transaction():
                await conn.execute(sql, *args)


async def test_client_checks(db: asyncpg.Pool) -> None:
    await _rejects(db, "INSERT INTO clients (slug, name) VALUES ('Bad Slug!', 'x')")
    await _rejects(db, "INSERT INTO clients (slug, name) VALUES ('ok', '')")
    await _rejects(db, "INSERT INTO clients (slug, name, status) VALUES ('ok', 'x', 'deleted')")
    await make_client(db, "dup")
    await _rejects(db, "INSERT INTO clients (slug, name) VALUES ('dup', 'x')",
                   error=asyncpg.UniqueViolationError)


@pytest.mark.parametrize(
    "assignment",
    [
        "webhook_secret = 'short'",
        "reminder_timeout_1 = 0",
        "reminder_timeout_2 = 10",  # must exceed reminder 1 (30)
        "auto_close_timeout = 45",  # must exceed reminder 2 (60)
        "mute_duration_first_minutes = 0",
        "mute_duration_second_hours = -1",
        "debounce_seconds = 11",
        "webhook_secret = NULL",
    ],
)
async def test_client_settings_checks(db: asyncpg.Pool, assignment: str) -> None:
    client = await make_client(db)
    await _rejects(db, f"UPDATE client_settings SET {assignment} WHERE client_id = $1", client.id)


async def test_branch_checks(db: asyncpg.Pool) -> None:
    client = await make_client(db)
    await db.execute(
        "INSERT INTO branches (client_id, slug, name, instance_id) VALUES ($1, 'a', 'A', 'i1')", client.id
    )
    await _rejects(db, "INSERT INTO branches (client_id, slug, name) VALUES ($1, 'a', 'A2')", client.id,
                   error=asyncpg.UniqueViolationError)
    await _rejects(db, "INSERT INTO branches (client_id, slug, name, instance_id) VALUES ($1, 'b', 'B', 'i1')",
                   client.id, error=asyncpg.UniqueViolationError)
    await _rejects(db, "INSERT INTO branches (client_id, slug, name) VALUES ($1, 'B B', 'B')", client.id)
    await _rejects(db, "INSERT INTO branches (client_id, slug, name) VALUES ($1, 'c', 'C')",
                   "00000000-0000-0000-0000-000000000000", error=asyncpg.ForeignKeyViolationError)


async def test_prompts_one_active(db: asyncpg.Pool) -> None:
    client = await make_client(db)
    await db.execute("INSERT INTO prompts (client_id, text) VALUES ($1, 'one')", client.id)
    await _rejects(db, "INSERT INTO prompts (client_id, text) VALUES ($1, 'two')", client.id,
                   error=asyncpg.UniqueViolationError)
    await _rejects(db, "INSERT INTO prompts (client_id, text, is_active) VALUES ($1, '', false)", client.id)


async def test_users_checks(db: asyncpg.Pool) -> None:
    client = await make_client(db)
    await _rejects(db, "INSERT INTO users (client_id, remote_jid) VALUES ($1, 'abc@s.whatsapp.net')", client.id)
    await _rejects(db, "INSERT INTO users (client_id, remote_jid) VALUES ($1, '77011234567')", client.id)
    await db.execute("INSERT INTO users (client_id, remote_jid) VALUES ($1, '77011234567@lid')", client.id)
    await _rejects(db, "INSERT INTO users (client_id, remote_jid) VALUES ($1, '77011234567@lid')", client.id,
                   error=asyncpg.UniqueViolationError)


async def test_conversation_checks(db: asyncpg.Pool) -> None:
    client = await make_client(db)
    conv = await make_conversation(db, client.id)
    await _rejects(db, "UPDATE conversations SET state = 'sleeping' WHERE id = $1", conv)
    await _rejects(db, "UPDATE conversations SET no_count = -1 WHERE id = $1", conv)
    await _rejects(db, "UPDATE conversations SET channel = 'fax' WHERE id = $1", conv)
    # manager_active needs a Telegram topic (CHECK), whatever the handover says.
    await _rejects(db, "UPDATE conversations SET state = 'manager_active' WHERE id = $1", conv)


async def _handover(db, conv, client_id, status="pending", **extra):
    cols = ["conversation_id", "client_id", "status", "trigger_type", *extra]
    vals = [conv, client_id, status, "intent", *extra.values()]
    ph = ", ".join(f"${i}" for i in range(1, len(vals) + 1))
    return f"INSERT INTO handovers ({', '.join(cols)}) VALUES ({ph})", vals


async def test_state_must_match_open_handover(db: asyncpg.Pool) -> None:
    client = await make_client(db)
    conv = await make_conversation(db, client.id)
    # A pending handover while the conversation stays bot_active: rejected at commit.
    sql, vals = await _handover(db, conv, client.id)
    await _rejects(db, sql, *vals)
    # The state alone, without a handover: rejected too.
    await _rejects(db, "UPDATE conversations SET state = 'pending' WHERE id = $1", conv)
    # Both in one transaction: accepted.
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(sql, *vals)
        await conn.execute("UPDATE conversations SET state = 'pending' WHERE id = $1", conv)
    assert await db.fetchval("SELECT state FROM conversations WHERE id = $1", conv) == "pending"


async def test_one_open_handover_per_conversation(db: asyncpg.Pool) -> None:
    client = await make_client(db)
    conv = await make_conversation(db, client.id)
    sql, vals = await _handover(db, conv, client.id)
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(sql, *vals)
        await conn.execute("UPDATE conversations SET state = 'pending' WHERE id = $1", conv)
    await _rejects(db, sql, *vals, error=asyncpg.UniqueViolationError)


@pytest.mark.parametrize(
    ("status", "extra"),
    [
        ("waiting", {}),
        ("resolved", {}),  # resolved without a resolution
        ("pending", {"resolution": "returned_to_bot"}),  # a resolution while open
        ("active", {}),  # active without an assignee
        ("pending", {"reminder_2_sent_at": "now"}),  # reminder 2 before reminder 1
        ("pending", {"trigger_type_override": "telepathy"}),
        ("resolved", {"resolution": "gave_up", "resolved_at": "now"}),
    ],
)
async def test_handover_checks(db: asyncpg.Pool, status: str, extra: dict) -> None:
    from datetime import UTC, datetime

    client = await make_client(db)
    conv = await make_conversation(db, client.id)
    extra = {k: (datetime.now(UTC) if v == "now" else v) for k, v in extra.items()}
    trigger = extra.pop("trigger_type_override", None)
    sql, vals = await _handover(db, conv, client.id, status, **extra)
    if trigger:
        vals[3] = trigger
    await _rejects(db, sql, *vals)


async def test_message_role_check(db: asyncpg.Pool) -> None:
    client = await make_client(db)
    conv = await make_conversation(db, client.id)
    await _rejects(db, "INSERT INTO messages (conversation_id, role, content) VALUES ($1, 'robot', 'x')", conv)
    await db.execute("INSERT INTO messages (conversation_id, role, content) VALUES ($1, 'user', 'x')", conv)


async def test_inbound_events_unique_per_client_and_channel(db: asyncpg.Pool) -> None:
    client = await make_client(db)
    other = await make_client(db, "other")
    sql = ("INSERT INTO inbound_events (client_id, channel, provider_message_id, payload) "
           "VALUES ($1, $2, $3, '{}'::jsonb)")
    await db.execute(sql, client.id, "whatsapp", "M1")
    await db.execute(sql, other.id, "whatsapp", "M1")  # another tenant may reuse an id
    await db.execute(sql, client.id, "telegram", "M1")
    await _rejects(db, sql, client.id, "whatsapp", "M1", error=asyncpg.UniqueViolationError)
    await _rejects(db, sql, client.id, "sms", "M2")
    await _rejects(db, sql, client.id, "whatsapp", "")
    await _rejects(db, "UPDATE inbound_events SET status = 'lost' WHERE client_id = $1", client.id)


async def test_outbox_checks(db: asyncpg.Pool) -> None:
    client = await make_client(db)
    sql = ("INSERT INTO outbox (client_id, channel, kind, payload, idempotency_key, status) "
           "VALUES ($1, $2, 'send_text', '{}'::jsonb, $3, $4)")
    await db.execute(sql, client.id, "whatsapp", "k1", "pending")
    await _rejects(db, sql, client.id, "whatsapp", "k1", "pending", error=asyncpg.UniqueViolationError)
    await _rejects(db, sql, client.id, "pigeon", "k2", "pending")
    await _rejects(db, sql, client.id, "whatsapp", "k3", "lost")
    await _rejects(db, "UPDATE outbox SET attempts = -1 WHERE client_id = $1", client.id)


async def test_telegram_update_dedup_and_audit(db: asyncpg.Pool) -> None:
    client = await make_client(db)
    await db.execute("INSERT INTO telegram_updates (client_id, update_id) VALUES ($1, 7)", client.id)
    await _rejects(db, "INSERT INTO telegram_updates (client_id, update_id) VALUES ($1, 7)", client.id,
                   error=asyncpg.UniqueViolationError)
    await _rejects(db, "INSERT INTO audit_log (client_id, actor_type, action) VALUES ($1, 'alien', 'x')",
                   client.id)
    await _rejects(db, "INSERT INTO audit_log (client_id, actor_type, action) VALUES ($1, 'manager', '')",
                   client.id)
