"""Each `doctor` check, broken on purpose against the fake peers: it fails, says what it saw,
and says how to fix it. The happy path of all of them is `test_doctor_cli.py`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.doctor import Check, Status, estimated_bits
from gateway.settings import Settings
from gateway.wiring import open_doctor
from storage.vectors import EdgeVectorStore
from tests.factories import make_client
from tests.fakes import FakeOpenAI
from tests.ops.conftest import FakeTei
from tests.telegram.fakes import GROUP_A, GROUP_B, TOKEN_A, FakeTelegram

STRONG_SECRET = "Zq3vN8xK2pLr7TfY1mWc9HsB4dGj6Ua0"


async def client_checks(db, settings: Settings, **values: Any) -> dict[str, Check]:
    values.setdefault("webhook_secret", STRONG_SECRET)
    values.setdefault("telegram_bot_token", TOKEN_A)
    values.setdefault("telegram_chat_id", GROUP_A)
    client = await make_client(db, "salon", **values)
    async with open_doctor(settings) as doctor:
        return {c.name: c for c in await doctor.client_checks(client)}


async def global_checks(settings: Settings) -> dict[str, Check]:
    async with open_doctor(settings) as doctor:
        return {c.name: c for c in await doctor.global_checks()}


def assert_fails(check: Check, seen: str, fix: str) -> None:
    assert check.status == Status.FAIL, check
    assert seen in check.detail, check.detail
    assert fix in check.hint, check.hint


# --- global ---------------------------------------------------------------------------------


async def test_pending_migrations_fail_the_database_check(ops_settings, db) -> None:
    latest = await db.fetchrow("SELECT * FROM schema_migrations ORDER BY version DESC LIMIT 1")
    await db.execute("DELETE FROM schema_migrations WHERE version = $1", latest["version"])
    try:
        checks = await global_checks(ops_settings)
    finally:
        await db.execute("INSERT INTO schema_migrations (version, name, applied_at) "
                         "VALUES ($1, $2, $3)", *latest.values())
    assert_fails(checks["database"], latest["name"], "python -m gateway migrate")


async def test_an_embedder_that_does_not_answer_fails(ops_settings, tei: FakeTei, db) -> None:
    tei.down = True
    checks = await global_checks(ops_settings)
    assert_fails(checks["embedder"], "tei", "EMBEDDINGS_URL")
    assert checks["vector_store"].status == Status.SKIP


async def test_a_collection_of_another_dimension_fails_the_vector_store(ops_settings, db) -> None:
    other = EdgeVectorStore(ops_settings.data_dir / "vectors", ops_settings.qdrant_collection)
    await other.ensure_collection(32)  # written by an earlier embedder
    await other.aclose()
    checks = await global_checks(ops_settings)
    assert checks["embedder"].status == Status.PASS
    assert_fails(checks["vector_store"], "expected vector size 64, but got 32", "QDRANT_COLLECTION")


async def test_an_llm_that_does_not_answer_fails(ops_settings, openai_fake: FakeOpenAI, db) -> None:
    settings = ops_settings.model_copy(update={
        "openai_base_url": str(openai_fake.server.make_url("/v1")), "llm_timeout_seconds": 2})
    assert (await global_checks(settings))["llm"].status == Status.PASS
    assert openai_fake.requests[-1]["max_tokens"] == 1  # one token is enough to know
    openai_fake.fail_with = 401
    assert_fails((await global_checks(settings))["llm"], "HTTP 401", "OPENAI_API_KEY")


# --- per client: settings -----------------------------------------------------------------------


async def test_missing_chatflow_credentials_fail(ops_settings, db) -> None:
    checks = await client_checks(db, ops_settings, chatflow_token=None)
    assert_fails(checks["chatflow"], "no ChatFlow token", "chatflow_token=")
    await db.execute("DELETE FROM clients")
    checks = await client_checks(db, ops_settings, chatflow_instance_id=None)
    assert_fails(checks["chatflow"], "no instance id", "chatflow_instance_id=")
    default_token = ops_settings.model_copy(update={"chatflow_token": "cf-default"})
    await db.execute("DELETE FROM clients")
    checks = await client_checks(db, default_token, chatflow_token=None)
    assert checks["chatflow"].status == Status.PASS and "CHATFLOW_TOKEN" in checks["chatflow"].detail


@pytest.mark.parametrize(("secret", "seen"), [
    ("short-but-16-char", "characters, fewer than 24"),
    ("abababababababababababababababab", "too predictable"),
])
async def test_weak_webhook_secrets_fail(ops_settings, db, secret: str, seen: str) -> None:
    checks = await client_checks(db, ops_settings, webhook_secret=secret)
    assert_fails(checks["webhook_secret"], seen, "secrets.token_urlsafe(24)")


def test_the_secret_estimate_ranks_random_above_repetitive() -> None:
    assert estimated_bits("a" * 40) == 0
    assert estimated_bits(STRONG_SECRET) > 96 > estimated_bits("abab" * 8)


async def test_an_unknown_timezone_fails(ops_settings, db) -> None:
    client = await make_client(db, "other", webhook_secret=STRONG_SECRET)
    # the API refuses a bad timezone: only a hand edit of the database leaves one
    await db.execute("UPDATE client_settings SET timezone = 'Mars/Olympus' WHERE client_id = $1",
                     client.id)
    async with open_doctor(ops_settings) as doctor:
        (found,) = [c for c in await doctor.run("other") if c.name == "timezone"]
    assert_fails(found, "Mars/Olympus", "timezone=Asia/Almaty")
    assert found.scope == "other"


async def test_unusable_working_hours_fail(ops_settings, db) -> None:
    checks = await client_checks(db, ops_settings, working_hours={"weekly": {"mon": "25:00-26:00"}})
    assert_fails(checks["working_hours"], "25:00", "client hours salon")


async def test_no_knowledge_fails_and_an_unopened_base_skips(ops_settings, tei: FakeTei, db) -> None:
    checks = await client_checks(db, ops_settings)
    assert_fails(checks["knowledge"], "no documents", "knowledge ingest --client salon")
    tei.down = True
    await db.execute("DELETE FROM clients")
    assert (await client_checks(db, ops_settings))["knowledge"].status == Status.SKIP


# --- per client: the Telegram desk --------------------------------------------------------------


async def test_no_bot_fails_and_skips_the_rest_of_the_desk(ops_settings, db) -> None:
    checks = await client_checks(db, ops_settings, telegram_bot_token=None)
    assert_fails(checks["telegram_token"], "no Telegram bot", "telegram_bot_token=")
    assert {checks[n].status for n in ("telegram_group", "telegram_rights",
                                       "telegram_webhook")} == {Status.SKIP}


async def test_a_rejected_token_fails(ops_settings, tg: FakeTelegram, db) -> None:
    tg.fail("getMe", 401, "Unauthorized")
    checks = await client_checks(db, ops_settings)
    assert_fails(checks["telegram_token"], "rejected", "telegram_bot_token=")
    assert checks["telegram_group"].status == Status.SKIP


async def test_a_group_without_topics_fails(ops_settings, tg: FakeTelegram, db) -> None:
    tg.groups[GROUP_A] = {"type": "supergroup", "is_forum": False}
    assert_fails((await client_checks(db, ops_settings))["telegram_group"], "without topics",
                 "turn Topics on")


async def test_a_group_the_bot_is_not_in_fails(ops_settings, tg: FakeTelegram, db) -> None:
    tg.missing_chats.add(GROUP_A)
    checks = await client_checks(db, ops_settings)
    assert_fails(checks["telegram_group"], "chat not found", "add the bot to the group")
    assert checks["telegram_rights"].status == Status.SKIP


async def test_no_group_fails(ops_settings, db) -> None:
    checks = await client_checks(db, ops_settings, telegram_chat_id=None)
    assert_fails(checks["telegram_group"], "no telegram_chat_id", "telegram_chat_id=-100")


@pytest.mark.parametrize(("member", "seen"), [
    ({"can_pin_messages": False}, "without can_pin_messages"),
    ({"can_manage_topics": False}, "without can_manage_topics"),
    ({"status": "member"}, "the bot is member, not an admin"),
])
async def test_a_bot_without_rights_fails(ops_settings, tg: FakeTelegram, db,
                                          member: dict[str, Any], seen: str) -> None:
    tg.bot_member[GROUP_A] = member
    assert_fails((await client_checks(db, ops_settings))["telegram_rights"], seen,
                 "Manage topics and Pin messages")


async def test_a_branch_group_is_checked_too(ops_settings, tg: FakeTelegram, db) -> None:
    tg.groups[GROUP_B] = {"type": "group", "is_forum": False}
    client = await make_client(db, "salon", webhook_secret=STRONG_SECRET,
                               telegram_bot_token=TOKEN_A, telegram_chat_id=GROUP_A)
    await db.execute("INSERT INTO branches (client_id, slug, name, telegram_chat_id) "
                     "VALUES ($1, 'north', 'Север', $2)", client.id, GROUP_B)
    async with open_doctor(ops_settings) as doctor:
        checks = {c.name: c for c in await doctor.client_checks(client)}
    assert checks["telegram_group"].status == Status.PASS
    assert_fails(checks["telegram_group:north"], "a group without topics", "turn Topics on")
    assert checks["telegram_rights:north"].status == Status.PASS


async def test_a_webhook_set_while_polling_fails(ops_settings, tg: FakeTelegram, db) -> None:
    tg.webhooks[TOKEN_A] = "https://old-n8n.example/telegram"
    assert_fails((await client_checks(db, ops_settings))["telegram_webhook"],
                 "https://old-n8n.example/telegram", "TELEGRAM_MODE=webhook")


async def test_webhook_mode_wants_our_url_without_recent_errors(ops_settings, tg: FakeTelegram,
                                                                db) -> None:
    hooked = ops_settings.model_copy(update={"telegram_mode": "webhook",
                                             "public_base_url": "https://desk.example.kz"})
    ours = "https://desk.example.kz/telegram-webhook/salon"
    assert_fails((await client_checks(db, hooked))["telegram_webhook"],
                 f"webhook is not set, expected {ours}", "PUBLIC_BASE_URL")

    tg.webhooks[TOKEN_A] = ours
    await db.execute("DELETE FROM clients")
    assert (await client_checks(db, hooked))["telegram_webhook"].status == Status.PASS

    tg.webhook_trouble[TOKEN_A] = {
        "last_error_date": int((datetime.now(UTC) - timedelta(minutes=2)).timestamp()),
        "last_error_message": "SSL error {error:0A000086}"}
    await db.execute("DELETE FROM clients")
    assert_fails((await client_checks(db, hooked))["telegram_webhook"], "SSL error", "HTTPS")

    tg.webhook_trouble[TOKEN_A] = {"pending_update_count": 500}
    await db.execute("DELETE FROM clients")
    assert_fails((await client_checks(db, hooked))["telegram_webhook"], "500 updates waiting",
                 "answers the webhook")

    no_base = hooked.model_copy(update={"public_base_url": None})
    await db.execute("DELETE FROM clients")
    assert_fails((await client_checks(db, no_base))["telegram_webhook"],
                 "without PUBLIC_BASE_URL", "PUBLIC_BASE_URL")


async def test_the_report_never_holds_a_token(ops_settings, tg: FakeTelegram, db) -> None:
    tg.fail("getMe", 500, f"Internal error at /bot{TOKEN_A}/getMe")
    checks = await client_checks(db, ops_settings)
    assert TOKEN_A not in json.dumps([c.as_dict() for c in checks.values()])
