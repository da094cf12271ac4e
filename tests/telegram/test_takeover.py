"""Manual take-over through the fake Telegram and ChatFlow servers: a manager finds a customer the
bot is talking to (`/find`), opens their topic with the history, presses [Взять диалог] (the
conversation becomes `manager_active` with `trigger_type = manual`), answers, and hands the
conversation back with `/bot`."""

from __future__ import annotations

from typing import Any

from core.texts import DESK
from tests.fakes import wait_for
from tests.telegram.conftest import open_request, wait_handled
from tests.telegram.fakes import GROUP_A, GROUP_B, TOKEN_A, TOKEN_B, callback, topic_message
from tests.whatsapp.conftest import post, text_payload


def texts_to_customer(chatflow) -> list[str]:
    return [c["msg"] for c in chatflow.delivered() if c["endpoint"] == "send-text"]


def in_general(chat_id: int, text: str, *, message_id: int) -> dict[str, Any]:
    """A message in the group's General topic (no thread)."""
    update = topic_message(chat_id, 0, text, message_id=message_id)
    del update["message"]["message_thread_id"], update["message"]["is_topic_message"]
    return update


def sent(tg, fragment: str, token: str = TOKEN_A) -> list[dict[str, Any]]:
    return [c.params for c in tg.of("sendMessage", token=token) if fragment in c.params["text"]]


def toasts(tg) -> list[str]:
    return [c.params.get("text") for c in tg.of("answerCallbackQuery")]


async def test_a_manager_takes_over_a_bot_conversation_and_hands_it_back(
        start_app, tg_settings, db, tg, chatflow, client_a) -> None:
    app = await start_app(tg_settings)
    await post(app, text_payload("Здравствуйте", "W-1"), slug="salon_a")
    await wait_for(lambda: texts_to_customer(chatflow))
    conversation_id = await db.fetchval("SELECT id FROM conversations")

    # the manager looks the customer up by a piece of their number, in the General topic
    tg.push_update(TOKEN_A, in_general(GROUP_A, "/find 8 701 123-45-67", message_id=1))
    (found,) = await wait_for(lambda: sent(tg, "Нашёл"))
    assert "Айгерим · +77011234567 — отвечает бот" in found["text"]
    assert "message_thread_id" not in found
    (button,) = found["reply_markup"]["inline_keyboard"][0]
    assert button == {"text": "1. Айгерим", "callback_data": f"open:{conversation_id}"}

    # their topic is made on demand, with the history and [Взять диалог]
    tg.push_update(TOKEN_A, callback(GROUP_A, button["callback_data"], query_id="open"))
    (history,) = await wait_for(lambda: sent(tg, "История диалога"))
    (topic,) = tg.of("createForumTopic")
    assert topic.params["name"] == "Айгерим · +77011234567"
    assert history["message_thread_id"] == 10
    assert "👤 Здравствуйте" in history["text"] and "🤖 Здравствуйте!" in history["text"]
    assert history["reply_markup"]["inline_keyboard"] == [
        [{"text": "Взять диалог", "callback_data": f"takeover:{conversation_id}"}]]
    assert toasts(tg) == [DESK["history_sent"]]
    history_id = (await wait_for(lambda: db.fetchval(
        "SELECT result FROM outbox WHERE kind = 'topic_history' AND status = 'sent'")))[
        "message_ids"][0]

    tg.push_update(TOKEN_A, callback(GROUP_A, f"takeover:{conversation_id}", message_id=history_id,
                                     thread_id=10, query_id="take"))
    await wait_for(lambda: sent(tg, "взял диалог"))
    handover = await db.fetchrow("SELECT * FROM handovers")
    assert await db.fetchval("SELECT state FROM conversations") == "manager_active"
    assert (handover["trigger_type"], handover["status"], handover["assigned_to"]) == \
        ("manual", "active", 501)
    assert handover["telegram_message_id"] == history_id  # the history is the request's card
    assert toasts(tg)[-1] == DESK["taken_over"]
    await wait_for(lambda: tg.of("editMessageReplyMarkup"))
    markup = tg.of("editMessageReplyMarkup")[0].params
    assert markup["message_id"] == history_id
    assert markup["reply_markup"]["inline_keyboard"] == [
        [{"text": "Решено", "callback_data": f"resolve:{handover['id']}"}]]

    # the bot keeps quiet while the manager has the conversation; the customer is mirrored
    replies = len(texts_to_customer(chatflow))
    await post(app, text_payload("До скольки вы работаете?", "W-2"), slug="salon_a")
    await wait_for(lambda: sent(tg, "👤 Клиент: До скольки вы работаете?"))
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "До 21:00, ждём вас", message_id=801))
    await wait_for(lambda: "До 21:00, ждём вас" in texts_to_customer(chatflow))
    assert len(texts_to_customer(chatflow)) == replies + 1

    # /bot gives the conversation back to the bot
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "/bot", message_id=802))
    await wait_for(lambda: sent(tg, "↩️ Возвращено боту (Айдана К)"))
    assert await db.fetchval("SELECT state FROM conversations") == "bot_active"
    assert await db.fetchval("SELECT resolution FROM handovers") == "returned_to_bot"
    await post(app, text_payload("Привет", "W-3"), slug="salon_a")
    await wait_for(lambda: len(texts_to_customer(chatflow)) == replies + 2)
    assert texts_to_customer(chatflow)[-1].startswith("Здравствуйте!")
    actions = [r["action"] for r in await db.fetch("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["open_history", "take_over", "relay", "close:returned_to_bot"]
    again = tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "/bot", message_id=803))
    await wait_handled(db, again)
    await wait_for(lambda: sent(tg, DESK["with_bot_already"]))


async def test_take_over_is_refused_where_it_does_not_belong(start_app, tg_settings, db, tg,
                                                             client_a, client_b) -> None:
    await start_app(tg_settings)
    escalation = await open_request(db, client_a)  # pending: [Взять диалог] takes it like [Беру]
    conversation_id = escalation.handover.conversation_id
    await wait_for(lambda: db.fetchval("SELECT telegram_message_id FROM handovers"))
    other = await open_request(db, client_b, jid="77019999999@s.whatsapp.net")

    # not a desk group of this bot: no answer at all; a short query: how to ask
    ignored = tg.push_update(TOKEN_A, in_general(GROUP_B, "/find Айгерим", message_id=1))
    await wait_handled(db, ignored)
    tg.push_update(TOKEN_A, in_general(GROUP_A, "/find 7", message_id=2))
    await wait_for(lambda: sent(tg, "/find телефон или имя"))
    # another client's customer is not found
    tg.push_update(TOKEN_A, in_general(GROUP_A, "/find 7701999", message_id=3))
    await wait_for(lambda: sent(tg, "Никого не нашёл: «7701999»"))
    # a name matches in part and in any case; LIKE's wildcards are plain characters
    tg.push_update(TOKEN_A, in_general(GROUP_A, "/find айГЕР", message_id=4))
    tg.push_update(TOKEN_A, in_general(GROUP_A, "/find %_", message_id=5))
    await wait_for(lambda: sent(tg, "Никого не нашёл: «%_»") and sent(tg, "Нашёл ("))
    (found,) = sent(tg, "Нашёл (")
    assert "1. Айгерим · +77011234567 — ждёт менеджера" in found["text"]

    # buttons naming another client's conversation, or pressed in another group
    tg.push_update(TOKEN_A, callback(GROUP_A, f"takeover:{other.handover.conversation_id}",
                                     query_id="x1"))
    tg.push_update(TOKEN_B, callback(GROUP_B, f"open:{conversation_id}", query_id="x2"))
    tg.push_update(TOKEN_A, callback(GROUP_B, f"takeover:{conversation_id}", query_id="x3"))
    await wait_for(lambda: len(toasts(tg)) == 3)
    assert sorted(toasts(tg)) == sorted([DESK["foreign_conversation"], DESK["foreign_conversation"],
                                         "Эта кнопка не из группы заявки"])
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE kind = 'topic_history'") == 0

    # a request already pending is taken as with [Беру], its own card kept
    tg.push_update(TOKEN_A, callback(GROUP_A, f"takeover:{conversation_id}", message_id=555,
                                     query_id="t"))
    await wait_for(lambda: len(toasts(tg)) == 4)
    assert toasts(tg)[-1] == DESK["taken"]
    row = await db.fetchrow("SELECT trigger_type, status, telegram_message_id FROM handovers "
                            "WHERE id = $1", escalation.handover.id)
    assert (row["trigger_type"], row["status"]) == ("intent", "active")
    assert row["telegram_message_id"] != 555
    assert await db.fetchval("SELECT count(*) FROM handovers WHERE client_id = $1",
                             client_a.id) == 1


def test_what_a_find_query_means() -> None:
    from core.customers import CustomerQuery, parse_query

    assert parse_query("+7 (701) 123-45-67") == CustomerQuery(phone_digits="77011234567")
    assert parse_query("8 701 123 45 67") == CustomerQuery(phone_digits="77011234567")
    assert parse_query("4567") == CustomerQuery(phone_digits="4567")
    assert parse_query("  Айгерим  К ") == CustomerQuery(name="Айгерим К")
    for too_little in ("", "12", "А", "x" * 101):
        assert parse_query(too_little) is None
