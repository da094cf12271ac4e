"""`python -m gateway chat`, the operator CLI, and the legacy synchronous `POST /message`."""

import io
import json

import pytest

from gateway.cli import main
from tests.factories import make_client


@pytest.fixture
def cli_env(monkeypatch, settings, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _run(cli_env, capsys, argv, stdin: str = "") -> tuple[int, str, str]:
    cli_env.setattr("sys.stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


async def test_chat_demo_salon_answers_the_three_questions(cli_env, capsys, db) -> None:
    import asyncio

    questions = "сколько стоит маникюр?\nгде вы находитесь?\nдо скольки работаете?\nпозовите менеджера\n"
    code, out, err = await asyncio.to_thread(_run, cli_env, capsys, ["chat", "demo_salon", "--json"], questions)
    assert code == 0, err
    turns = [json.loads(line) for line in out.splitlines()]
    # The demo client has no Telegram desk: a request for a person says so and the bot stays on.
    assert [t["action"] for t in turns] == ["answer", "answer", "answer", "no_desk"]
    assert "маникюр" in turns[0]["reply"].lower() and "₸" in turns[0]["reply"]
    assert "Абая" in turns[1]["reply"]
    assert "21:00" in turns[2]["reply"]
    assert turns[3]["state"] == "bot_active" and "позвоните" in turns[3]["reply"]
    assert await db.fetchval("SELECT channel FROM conversations") == "console"
    assert await db.fetchval("SELECT count(*) FROM outbox") == 0  # replies are printed, not sent


async def test_chat_unknown_client_fails_with_one_line(cli_env, capsys, db) -> None:
    import asyncio

    code, _, err = await asyncio.to_thread(_run, cli_env, capsys, ["chat", "nobody"])
    assert code == 1 and err.strip() == "error: no client with slug 'nobody'"


async def test_client_commands(cli_env, capsys, db) -> None:
    import asyncio

    async def run(*argv):
        return await asyncio.to_thread(_run, cli_env, capsys, list(argv))

    code, out, _ = await run("client", "create", "salon_two", "--name", "Салон 2", "--chatflow-token", "T",
                             "--owner-ids", "1,2", "--json")
    created = json.loads(out)
    assert code == 0 and created["owner_telegram_ids"] == [1, 2]
    assert "webhook_secret=" in created["webhook_url"]
    code, _, err = await run("client", "create", "salon_two", "--name", "again")
    assert code == 1 and "already exists" in err
    code, _, err = await run("client", "set", "salon_two", "reminder_timeout_2=10")
    assert code == 1 and "reminder_timeout_2 must be greater" in err
    code, _, err = await run("client", "set", "salon_two", "bogus=1")
    assert code == 1 and "unknown setting" in err
    code, _, err = await run("client", "set", "salon_two", "max_events_per_turn=0")
    assert code == 1 and "max_events_per_turn must be a whole number between 1 and 100" in err
    code, _, _ = await run("client", "set", "salon_two", "debounce_seconds=0", "status=suspended")
    assert code == 0
    code, out, _ = await run("client", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["status"] == "suspended" and listed["debounce_seconds"] == 0
    code, _, _ = await run("branch", "add", "salon_two", "north", "--name", "Север", "--instance-id", "i-n",
                           "--tag", "north")
    assert code == 0
    code, out, _ = await run("branch", "list", "salon_two", "--json")
    assert json.loads(out)[0]["knowledge_tag"] == "north"
    code, out, _ = await run("client", "policy", "salon_two", "--json")
    assert {t["name"] for t in json.loads(out)} >= {"payment", "medical"}


@pytest.mark.parametrize(("argv", "reason"), [
    (["client", "create"], "required: slug"),
    (["client", "set", "salon", "notapair"], "expected KEY=VALUE"),
    (["client", "set", "salon", "=1"], "expected KEY=VALUE"),
    (["branch", "set", "salon", "north", "name"], "expected KEY=VALUE"),
    (["client", "create", "s", "--name", "S", "--telegram-chat-id", "abc"], "not a Telegram id"),
    (["client", "create", "s", "--name", "S", "--owner-ids", "1,a"], "not a Telegram id"),
    (["branch", "add", "salon", "north", "--name", "N", "--telegram-chat-id", "chat5"],
     "not a Telegram id"),
])
def test_bad_arguments_exit_2_with_the_reason(cli_env, capsys, argv, reason) -> None:
    """What the command line's own form rejects (argparse: usage line, exit 2), before any
    database is opened; a well-formed value the command refuses exits 1 (test_client_commands)."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert reason in capsys.readouterr().err


@pytest.fixture
async def api(start_app, wa_settings, demo):
    return await start_app(wa_settings)


async def test_legacy_message_answers_synchronously(api, admin_headers, chatflow, db) -> None:
    response = await api.post("/message", headers=admin_headers, json={
        "client_id": "demo_salon", "remote_jid": "77011234567", "content": "позовите менеджера",
        "channel": "whatsapp"})
    body = await response.json()
    assert response.status == 200, body
    assert body["success"] is True and body["state"] == "pending" and body["intent"] == "human_request"
    assert "менеджеру" in body["bot_response"]
    assert not chatflow.calls  # n8n delivers the reply itself


async def test_legacy_message_accepts_a_client_uuid_and_validates(api, admin_headers, db) -> None:
    client_id = await db.fetchval("SELECT id FROM clients")
    ok = await api.post("/message", headers=admin_headers, json={
        "client_id": str(client_id), "remote_jid": "77011234567@s.whatsapp.net", "content": "привет"})
    assert (await ok.json())["intent"] == "greeting"
    missing = await api.post("/message", headers=admin_headers, json={"client_id": "demo_salon", "content": "x"})
    assert missing.status == 400
    unknown = await api.post("/message", headers=admin_headers, json={
        "client_id": "nobody", "remote_jid": "77011234567", "content": "x"})
    assert unknown.status == 404
    unauthenticated = await api.post("/message", json={})
    assert unauthenticated.status == 403


async def test_knowledge_commands_refuse_unknown_clients_and_bad_files(cli_env, capsys, db, tmp_path) -> None:
    import asyncio

    async def run(*argv):
        return await asyncio.to_thread(_run, cli_env, capsys, list(argv))

    code, _, err = await run("knowledge", "list", "--client", "nosuch")
    assert code == 1 and err.strip() == "error: no client with slug 'nosuch'"
    await make_client(db, "salon_k")
    pdf = tmp_path / "prices.pdf"
    pdf.write_bytes(b"%PDF-1.4 \x84\x00")
    code, _, err = await run("knowledge", "ingest", "--client", "salon_k", str(pdf))
    assert code == 1 and err.strip().endswith("prices.pdf: not a readable PDF "
                                              "(PdfStreamError: Stream has ended unexpectedly)")
    assert len(err.strip().splitlines()) == 1
    old_word = tmp_path / "prices.doc"
    old_word.write_bytes(b"\xd0\xcf\x11\xe0")
    code, _, err = await run("knowledge", "ingest", "--client", "salon_k", str(old_word))
    assert code == 1 and "prices.doc: not a supported document (.md, .markdown, .txt, .html, " in err
    binary = tmp_path / "prices.md"
    binary.write_bytes(b"\x84\x00\xff")
    code, _, err = await run("knowledge", "ingest", "--client", "salon_k", str(binary))
    assert code == 1 and "prices.md: cannot read it as UTF-8" in err and len(err.strip().splitlines()) == 1


async def test_policy_files_without_topics_are_refused(cli_env, capsys, db, tmp_path) -> None:
    import asyncio

    await make_client(db, "salon_p")
    bad = tmp_path / "policy.yaml"
    bad.write_text("topic: []\n")
    code, _, err = await asyncio.to_thread(_run, cli_env, capsys, ["client", "policy", "salon_p", "--set", str(bad)])
    assert code == 1 and "needs a 'topics' list" in err
    assert await db.fetchval("SELECT escalation_policy FROM client_settings") is None


async def test_client_set_prints_setting_names_not_values(cli_env, capsys, db) -> None:
    import asyncio

    await make_client(db, "salon_s")
    code, out, _ = await asyncio.to_thread(_run, cli_env, capsys, [
        "client", "set", "salon_s", "telegram_bot_token=123456:SECRETSECRET", "timezone=Asia/Almaty"])
    assert code == 0 and "SECRETSECRET" not in out and "telegram_bot_token" in out
    code, _, err = await asyncio.to_thread(_run, cli_env, capsys, ["client", "set", "salon_s", "timezone=Mars/Olympus"])
    assert code == 1 and "unknown timezone" in err
