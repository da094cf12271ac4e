"""Managers' saved replies: managed per client through the admin API and the CLI, sent with
`/t NAME` in a customer's topic (`{customer_name}` filled in) through the fake Telegram and
ChatFlow servers."""

from __future__ import annotations

import asyncio

import pytest

from core.canned import InvalidReply, check_name, check_text, render
from core.texts import DESK
from gateway.cli import main
from tests.fakes import wait_for
from tests.telegram.conftest import JID, open_request, wait_handled
from tests.telegram.fakes import GROUP_A, TOKEN_A, topic_message

GREETING = "Здравствуйте, {customer_name}! Это {client_name}, чем помочь?"


def test_names_texts_and_rendering() -> None:
    assert check_name(" Адрес_1 ") == "адрес_1"
    for bad in ("", "two words", "x" * 41, "emoji🙂"):
        with pytest.raises(InvalidReply):
            check_name(bad)
    assert check_text("  {customer_name}, добрый день  ") == "{customer_name}, добрый день"
    for bad, reason in (("", "1–4000"), ("{name}", "unknown placeholder {name}"),
                        ("{customer_name", "not a valid template")):
        with pytest.raises(InvalidReply, match=reason):
            check_text(bad)
    assert render(GREETING, customer_name="  Айгерим ", client_name="Салон") == \
        "Здравствуйте, Айгерим! Это Салон, чем помочь?"
    # without a name the placeholder goes, and the punctuation around it is tidied
    assert render(GREETING, customer_name=None, client_name="Салон") == \
        "Здравствуйте! Это Салон, чем помочь?"
    assert render("{customer_name}, ваша запись подтверждена.", customer_name="",
                  client_name="Салон") == "Ваша запись подтверждена."


async def test_replies_through_the_admin_api(start_app, tg_settings, admin_headers, client_a
                                             ) -> None:
    api = await start_app(tg_settings)
    url = "/admin/clients/salon_a/replies"
    created = await api.put(f"{url}/Hello", headers=admin_headers, json={"text": GREETING})
    assert created.status == 201 and (await created.json())["name"] == "hello"
    replaced = await api.put(f"{url}/hello", headers=admin_headers, json={"text": "Добрый день!"})
    assert replaced.status == 200 and (await replaced.json())["created"] is False
    for name, body, reason in (("x", {"text": "{phone}"}, "unknown placeholder"),
                               ("x", {"txt": "a"}, "must be a string"),
                               ("two%20words", {"text": "a"}, "reply name")):
        refused = await api.put(f"{url}/{name}", headers=admin_headers, json=body)
        assert refused.status == 400 and reason in (await refused.json())["message"]
    listing = await (await api.get(url, headers=admin_headers)).json()
    assert [(r["name"], r["text"]) for r in listing] == [("hello", "Добрый день!")]
    assert (await api.get("/admin/clients/nobody/replies", headers=admin_headers)).status == 404
    assert (await api.get(url)).status == 403
    assert (await api.delete(f"{url}/hello", headers=admin_headers)).status == 200
    assert (await api.delete(f"{url}/hello", headers=admin_headers)).status == 404


async def test_replies_through_the_cli(monkeypatch, capsys, settings, tmp_path, db,
                                       client_a) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "reply.txt").write_text(GREETING, "utf-8")

    async def run(*argv: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    assert (await run("reply", "set", "salon_a", "price", "Маникюр от 5000 ₸"))[1] == \
        "added reply price of salon_a\n"
    assert (await run("reply", "set", "salon_a", "hello", "--file", "reply.txt"))[0] == 0
    code, _, err = await run("reply", "set", "salon_a", "bad", "{phone}")
    assert code == 1 and "unknown placeholder {phone}" in err
    code, out, _ = await run("reply", "list", "salon_a", "--json")
    assert code == 0 and '"name": "hello"' in out and '"name": "price"' in out
    assert (await run("reply", "delete", "salon_a", "PRICE"))[1] == "deleted reply price of salon_a\n"
    code, _, err = await run("reply", "delete", "salon_a", "price")
    assert code == 1 and "has no reply" in err
    actions = [r["action"] for r in await db.fetch("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["reply_set", "reply_set", "reply_delete"]


async def test_t_sends_a_saved_reply_to_the_customer(start_app, tg_settings, admin_headers, db,
                                                     tg, chatflow, client_a) -> None:
    api = await start_app(tg_settings)
    await api.put("/admin/clients/salon_a/replies/hello", headers=admin_headers,
                  json={"text": GREETING})
    await open_request(db, client_a)
    await wait_for(lambda: db.fetchval("SELECT telegram_message_id FROM handovers"))

    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "/t Hello", message_id=901))
    await wait_for(lambda: chatflow.delivered())
    (sent,) = chatflow.delivered()
    assert (sent["jid"], sent["msg"]) == (JID, "Здравствуйте, Айгерим! Это Client salon_a, чем помочь?")
    note = await wait_for(lambda: [t for t in tg.sent_texts() if t.startswith("📨")])
    assert note == ["📨 Шаблон «hello» отправлен клиенту:\n" + sent["msg"]]
    # as if the manager had written it: in the history, the handover's answer, and taken
    assert await db.fetchval("SELECT content FROM messages WHERE role = 'manager'") == sent["msg"]
    await wait_for(lambda: db.fetchval("SELECT status = 'active' FROM handovers"))
    assert await db.fetchval("SELECT manager_response FROM handovers") == sent["msg"]

    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "/t", message_id=902))
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "/t price", message_id=903))
    last = tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "/t@desk111111_bot hello",
                                                 message_id=904))
    await wait_handled(db, last)
    await wait_for(lambda: len(chatflow.delivered()) == 2)
    assert DESK["canned_usage"].format(names="hello") in tg.sent_texts()
    assert DESK["canned_unknown"].format(name="price", names="hello") in tg.sent_texts()
