"""The whole story of issue 5: WhatsApp customer → escalation → Telegram topic and card → take →
manager's reply on WhatsApp → the customer's answer mirrored → resolve → the bot answers again."""

from __future__ import annotations

from tests.fakes import wait_for
from tests.telegram.conftest import JID
from tests.telegram.fakes import GROUP_A, TOKEN_A, callback, topic_message
from tests.whatsapp.conftest import post, text_payload


def texts_to_customer(chatflow) -> list[str]:
    return [c["msg"] for c in chatflow.delivered() if c["endpoint"] == "send-text"]


async def test_customer_to_manager_and_back(start_app, tg_settings, db, tg, chatflow,
                                            client_a) -> None:
    client = await start_app(tg_settings)

    response = await post(client, text_payload("Позовите менеджера, пожалуйста", "W-1"),
                          slug="salon_a")
    assert response.status == 200
    await wait_for(lambda: tg.of("pinChatMessage"))
    (topic,) = tg.of("createForumTopic")
    assert topic.token == TOKEN_A and topic.params["name"] == "Айгерим · +77011234567"
    card = tg.of("sendMessage")[0].params
    assert "Позовите менеджера, пожалуйста" in card["text"]
    await wait_for(lambda: any("менеджер" in t for t in texts_to_customer(chatflow)))
    hid = await db.fetchval("SELECT id FROM handovers")
    card_id = await db.fetchval("SELECT telegram_message_id FROM handovers")

    tg.push_update(TOKEN_A, callback(GROUP_A, f"take:{hid}", message_id=card_id, thread_id=10))
    await wait_for(lambda: "Айдана К взял заявку" in tg.sent_texts())

    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "Здравствуйте! Я Айдана, чем помочь?"))
    await wait_for(lambda: "Здравствуйте! Я Айдана, чем помочь?" in texts_to_customer(chatflow))
    assert all(c["jid"] == JID for c in chatflow.delivered())

    replies_before = len(texts_to_customer(chatflow))
    await post(client, text_payload("Хочу перенести запись на пятницу", "W-2"), slug="salon_a")
    await wait_for(lambda: "👤 Клиент: Хочу перенести запись на пятницу" in tg.sent_texts())
    assert len(texts_to_customer(chatflow)) == replies_before  # the bot keeps quiet

    tg.push_update(TOKEN_A, callback(GROUP_A, f"resolve:{hid}", message_id=card_id, query_id="r"))
    await wait_for(lambda: tg.of("unpinChatMessage"))
    await wait_for(lambda: tg.of("editMessageReplyMarkup") and
                   tg.of("editMessageReplyMarkup")[-1].params["reply_markup"]["inline_keyboard"] == [])
    assert await db.fetchval("SELECT state FROM conversations") == "bot_active"

    await post(client, text_payload("Привет", "W-3"), slug="salon_a")
    await wait_for(lambda: len(texts_to_customer(chatflow)) > replies_before)
    assert "Здравствуйте" in texts_to_customer(chatflow)[-1]
    assert len(tg.of("createForumTopic")) == 1
