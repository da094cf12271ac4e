"""The client's (or branch's) Telegram group is changed while a request is open: the next thing
posted for the customer makes a topic in the new group, and the request card is posted there
again with the buttons of its status, so that the manager can still act on it."""

from __future__ import annotations

from core.outbound import Mirror
from tests.fakes import wait_for
from tests.telegram.conftest import open_request, outbox_rows
from tests.telegram.fakes import GROUP_A, GROUP_B, TOKEN_A, callback
from tests.telegram.test_desk_app import card_delivered, state, toasts
from tests.telegram.test_topic_effects import enqueue


def buttons(call) -> list[list[str]]:
    return [[b["callback_data"] for b in row]
            for row in (call.params.get("reply_markup") or {}).get("inline_keyboard", [])]


async def test_a_taken_request_follows_the_desk_to_the_new_group(start_app, tg_settings, db, tg,
                                                                 client_a) -> None:
    await start_app(tg_settings)
    escalation = await open_request(db, client_a)
    hid, old_card = await card_delivered(db)
    tg.push_update(TOKEN_A, callback(GROUP_A, f"take:{hid}", message_id=old_card, thread_id=10))
    await wait_for(lambda: "Айдана К взял заявку" in tg.sent_texts())

    await db.execute("UPDATE client_settings SET telegram_chat_id = $1 WHERE client_id = $2",
                     GROUP_B, client_a.id)
    await enqueue(db, client_a.id, Mirror(escalation.handover.conversation_id, ("я ещё здесь",)),
                  "m-after-move")
    card = await wait_for(lambda: [c for c in tg.of("sendMessage")
                                   if c.params["chat_id"] == GROUP_B and buttons(c)])
    assert len([c for c in tg.of("createForumTopic") if c.params["chat_id"] == GROUP_B]) == 1
    assert buttons(card[0]) == [[f"resolve:{hid}"]]
    new_topic = await db.fetchval("SELECT telegram_topic_id FROM conversations")
    assert card[0].params["message_thread_id"] == new_topic
    assert any("я ещё здесь" in c.params["text"] for c in tg.of("sendMessage")
               if c.params["chat_id"] == GROUP_B)
    new_card = await wait_for(lambda: db.fetchval(
        "SELECT telegram_message_id FROM handovers WHERE telegram_message_id <> $1", old_card))
    await wait_for(lambda: any(p.params == {"chat_id": GROUP_B, "message_id": new_card,
                                            "disable_notification": True}
                               for p in tg.of("pinChatMessage")))

    # the new card's button works
    tg.push_update(TOKEN_A, callback(GROUP_B, f"resolve:{hid}", message_id=new_card,
                                     thread_id=new_topic, query_id="cb-2"))
    await wait_for(lambda: "✅ Решено (Айдана К)" in tg.sent_texts())
    assert await state(db) == ("bot_active", "resolved")
    assert toasts(tg)[-1] != "Эта кнопка не из группы заявки"
    await wait_for(lambda: all_sent(db))
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE kind = 'card_repost'") == 1


async def all_sent(db) -> bool:
    return all(r["status"] == "sent" for r in await outbox_rows(db, "telegram"))
