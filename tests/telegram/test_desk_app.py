"""The desk in the running app, polling mode: button presses and manager messages arrive
through getUpdates from the fake Bot API; WhatsApp sends reach the fake ChatFlow."""

from __future__ import annotations

import asyncio

from gateway.keys import KNOWLEDGE
from tests.factories import make_client
from tests.fakes import wait_for
from tests.telegram.conftest import JID, open_request, running_desk, wait_handled
from tests.telegram.fakes import (
    GROUP_A,
    GROUP_B,
    MANAGER,
    MANAGER_2,
    OWNER,
    TOKEN_A,
    TOKEN_B,
    callback,
    topic_message,
)


async def card_delivered(db) -> tuple[str, int]:
    row = await wait_for(lambda: db.fetchrow(
        "SELECT id, telegram_message_id FROM handovers WHERE telegram_message_id IS NOT NULL"))
    return row["id"], row["telegram_message_id"]


async def equals(query, expected) -> bool:
    return await query == expected


def toasts(tg, token: str = TOKEN_A) -> list[str]:
    return [c.params.get("text") for c in tg.of("answerCallbackQuery", token=token)]


async def state(db) -> tuple[str, str]:
    row = await db.fetchrow("""SELECT c.state, h.status FROM conversations c
                               JOIN handovers h ON h.conversation_id = c.id
                               ORDER BY h.created_at DESC LIMIT 1""")
    return row["state"], row["status"]


async def test_take_reply_resolve_through_telegram(start_app, tg_settings, db, tg, chatflow,
                                                   client_a) -> None:
    await start_app(tg_settings)
    await open_request(db, client_a, "Можно записаться на завтра?")
    hid, card_id = await card_delivered(db)

    tg.push_update(TOKEN_A, callback(GROUP_A, f"take:{hid}", message_id=card_id, thread_id=10))
    await wait_for(lambda: "Айдана К взял заявку" in tg.sent_texts())
    assert await state(db) == ("manager_active", "active")
    assert toasts(tg) == ["Заявка ваша"]
    resolve_button = [[{"text": "Решено", "callback_data": f"resolve:{hid}"}]]
    assert tg.of("editMessageReplyMarkup")[0].params["reply_markup"]["inline_keyboard"] == resolve_button

    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "Да, на 15:00 есть место", message_id=801))
    sent = await wait_for(lambda: chatflow.delivered())
    assert sent[0]["endpoint"] == "send-text"
    assert (sent[0]["jid"], sent[0]["msg"]) == (JID, "Да, на 15:00 есть место")
    assert sent[0]["token"] == "cf-token-salon_a"
    saved = await db.fetchrow("SELECT role, content FROM messages ORDER BY id DESC LIMIT 1")
    assert (saved["role"], saved["content"]) == ("manager", "Да, на 15:00 есть место")
    assert await db.fetchval("SELECT manager_response FROM handovers") == "Да, на 15:00 есть место"

    tg.push_update(TOKEN_A, callback(GROUP_A, f"resolve:{hid}", message_id=card_id, query_id="cb-2"))
    await wait_for(lambda: tg.of("unpinChatMessage"))
    await wait_for(lambda: "✅ Решено (Айдана К)" in tg.sent_texts())
    assert await state(db) == ("bot_active", "resolved")
    assert tg.of("editMessageReplyMarkup")[-1].params["reply_markup"]["inline_keyboard"] == []
    # the owner is offered the answer for the knowledge base
    offer = await wait_for(lambda: [t for t in tg.sent_texts() if "В базу" in t or "базу знаний" in t])
    assert "Можно записаться на завтра?" in offer[0]
    actions = [r["action"] for r in await db.fetch("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["escalate", "take", "relay", "close:resolved_by_manager"]


async def test_owner_adds_the_answer_to_the_knowledge_base(start_app, tg_settings, db, tg,
                                                           client_a) -> None:
    app = (await start_app(tg_settings)).app
    escalation = await open_request(db, client_a, "Есть ли парковка у салона?")
    hid, _ = await card_delivered(db)
    await db.execute("UPDATE handovers SET manager_response = 'Да, бесплатная парковка во дворе'")
    tg.push_update(TOKEN_A, callback(GROUP_A, f"learn:{hid}", user=MANAGER, query_id="l-1"))
    await wait_for(lambda: toasts(tg) == ["Добавить в базу может только владелец"])
    tg.push_update(TOKEN_A, callback(GROUP_A, f"learn:{hid}", user=OWNER, query_id="l-2"))
    await wait_for(lambda: len(toasts(tg)) == 2)
    assert toasts(tg)[-1] == "📚 Добавлено в базу знаний"
    found = await app[KNOWLEDGE].current.search("salon_a", "парковка у салона")
    assert found.ok
    passages = found.value or []
    assert any("бесплатная парковка" in p.content for p in passages)
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'learn'") == 1
    assert escalation.created


async def test_manager_message_auto_takes_a_pending_request(start_app, tg_settings, db, tg,
                                                            chatflow, client_a) -> None:
    await start_app(tg_settings)
    await open_request(db, client_a)
    await card_delivered(db)
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "Добрый день, слушаю вас"))
    await wait_for(lambda: chatflow.delivered())
    # The relay is queued first and the auto-take follows it (core/relay.py): wait for both.
    await wait_for(lambda: _is_taken(db))
    assert await db.fetchval("SELECT assigned_to_name FROM handovers") == "Айдана К"
    await wait_for(lambda: "Айдана К взял заявку" in tg.sent_texts())


async def test_two_concurrent_takes_have_one_winner(start_app, tg_settings, db, tg,
                                                    client_a) -> None:
    client = await start_app(tg_settings)
    await open_request(db, client_a)
    hid, _ = await card_delivered(db)
    presses = [{"update_id": tg.new_update_id(), **callback(GROUP_A, f"take:{hid}", user=user,
                                                            query_id=user["first_name"])}
               for user in (MANAGER, MANAGER_2)]
    updates = (await running_desk(client)).updates
    await asyncio.gather(*(updates.receive(client_a, press) for press in presses))
    winner = await db.fetchval("SELECT assigned_to_name FROM handovers")
    assert sorted(toasts(tg)) == sorted(["Заявка ваша", f"Заявку уже взял {winner}"])
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'take'") == 1
    assert await state(db) == ("manager_active", "active")


async def test_foreign_callbacks_change_nothing(start_app, tg_settings, db, tg, client_a,
                                                client_b) -> None:
    await start_app(tg_settings)
    await open_request(db, client_a)
    hid, _ = await card_delivered(db)
    # client B's bot, in client B's group, pressing a button naming client A's handover
    tg.push_update(TOKEN_B, callback(GROUP_B, f"take:{hid}", query_id="x1"))
    # client A's bot, but the press comes from another group
    tg.push_update(TOKEN_A, callback(GROUP_B, f"take:{hid}", query_id="x2"))
    # malformed and unknown handovers
    tg.push_update(TOKEN_A, callback(GROUP_A, "take:not-a-uuid", query_id="x3"))
    tg.push_update(TOKEN_A, callback(GROUP_A, "take:00000000-0000-0000-0000-000000000000",
                                     query_id="x4"))
    await wait_for(lambda: len(toasts(tg, TOKEN_A)) == 3 and toasts(tg, TOKEN_B))
    assert toasts(tg, TOKEN_B) == ["Это заявка другого клиента"]
    assert toasts(tg, TOKEN_A) == ["Эта кнопка не из группы заявки", "Кнопка устарела",
                                   "Заявка не найдена"]
    assert await state(db) == ("pending", "pending")
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action <> 'escalate'") == 0


async def test_stale_button_answers_and_changes_nothing(start_app, tg_settings, db, tg,
                                                        client_a) -> None:
    await start_app(tg_settings)
    await open_request(db, client_a)
    hid, _ = await card_delivered(db)
    tg.push_update(TOKEN_A, callback(GROUP_A, f"return:{hid}", query_id="r1"))
    await wait_for(lambda: toasts(tg) == ["Диалог возвращён боту"])
    tg.push_update(TOKEN_A, callback(GROUP_A, f"take_{hid}", query_id="r2"))  # the older form
    await wait_for(lambda: len(toasts(tg)) == 2)
    assert toasts(tg)[-1] == "Заявка уже закрыта"
    assert await state(db) == ("bot_active", "resolved")


async def test_ignored_messages_reach_nobody(start_app, tg_settings, db, tg, chatflow,
                                             client_a) -> None:
    await start_app(tg_settings)
    await open_request(db, client_a)
    await card_delivered(db)
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "/start", message_id=1))
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "бот пишет", message_id=2,
                                          user={"id": 9, "is_bot": True, "first_name": "B"}))
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, None, message_id=3,
                                          pinned_message={"message_id": 100, "date": 1,
                                                          "chat": {"id": GROUP_A, "type": "supergroup"}}))
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 99, "чужая тема", message_id=4))
    general = topic_message(GROUP_A, 10, "в общем чате", message_id=5)
    del general["message"]["message_thread_id"], general["message"]["is_topic_message"]
    tg.push_update(TOKEN_A, general)
    last = tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "/help@desk_bot", message_id=6))
    await wait_handled(db, last)
    await asyncio.sleep(0.2)
    assert chatflow.calls == []
    assert await state(db) == ("pending", "pending")


async def test_duplicate_update_is_processed_once(start_app, tg_settings, db, tg, chatflow,
                                                  client_a) -> None:
    client = await start_app(tg_settings)
    await open_request(db, client_a)
    await card_delivered(db)
    update = tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "один раз", message_id=900))
    await wait_for(lambda: chatflow.delivered())
    # the same update again (a restart before the offset was confirmed)…
    await (await running_desk(client)).updates.receive(client_a, update)
    # …and the same Telegram message under a new update id
    tg.push_update(TOKEN_A, {"message": update["message"]})
    await wait_for(lambda: equals(db.fetchval("SELECT count(*) FROM telegram_updates"), 2))
    await wait_for(lambda: equals(db.fetchval(
        "SELECT count(*) FROM telegram_updates WHERE processed_at IS NULL"), 0))
    await asyncio.sleep(0.2)
    assert len(chatflow.calls) == 1
    assert await db.fetchval("SELECT count(*) FROM messages WHERE role = 'manager'") == 1


async def test_two_bots_poll_at_once_and_stop_cleanly(start_app, tg_settings, db, tg,
                                                      client_a, client_b) -> None:
    client = await start_app(tg_settings)
    await wait_for(lambda: {c.token for c in tg.of("deleteWebhook")} == {TOKEN_A, TOKEN_B})
    ready = await (await client.get("/ready")).json()
    assert ready["checks"]["telegram"] == {"status": "ok", "mode": "polling", "bots": 2}
    await open_request(db, client_a)
    await open_request(db, client_b, jid="77019999999@s.whatsapp.net")
    await wait_for(lambda: equals(db.fetchval(
        "SELECT count(*) FROM handovers WHERE telegram_message_id IS NOT NULL"), 2))
    assert {c.token for c in tg.of("sendMessage")} == {TOKEN_A, TOKEN_B}
    # a client added while running gets its bot without a restart
    late = await make_client(db, "salon_c", telegram_bot_token="333333:AAlate-token_0123456789abcdef",
                             telegram_chat_id=-1003)
    await wait_for(lambda: any(c.token.startswith("333333") for c in tg.of("deleteWebhook")))
    tasks_before = {t for t in asyncio.all_tasks() if t.get_name().startswith("telegram-")}
    assert len(tasks_before) == 4  # the supervisor and three polling loops
    await client.close()
    await asyncio.sleep(0)
    assert all(t.done() for t in tasks_before)
    assert late.slug == "salon_c"


async def test_polling_survives_telegram_errors(start_app, tg_settings, db, tg, chatflow,
                                                client_a) -> None:
    tg.fail("getUpdates", 502, "Bad Gateway")
    await start_app(tg_settings)
    await open_request(db, client_a)
    await card_delivered(db)
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "после сбоя"))
    await wait_for(lambda: chatflow.delivered())
    assert chatflow.delivered()[0]["msg"] == "после сбоя"


async def test_an_update_that_cannot_be_stored_is_skipped_in_polling(
        start_app, tg_settings, db, tg, chatflow, client_a, caplog) -> None:
    """PostgreSQL refuses one update (here a check constraint; in the wild a value it cannot
    hold): after a few tries the bot skips it, and the manager's next message still arrives."""
    import logging
    await db.execute("""ALTER TABLE telegram_updates ADD CONSTRAINT poison
                        CHECK (payload #>> '{message,text}' IS DISTINCT FROM 'яд')""")
    try:
        await start_app(tg_settings)
        await open_request(db, client_a)
        await card_delivered(db)
        with caplog.at_level(logging.ERROR, logger="channels.telegram.runner"):
            tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "яд"))
            tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "после яда", message_id=701))
            await wait_for(lambda: chatflow.delivered())
        assert [c["msg"] for c in chatflow.delivered()] == ["после яда"]
        assert [r.getMessage() for r in caplog.records
                if r.name == "channels.telegram.runner"] == ["telegram update skipped: it cannot be stored"]
    finally:
        await db.execute("ALTER TABLE telegram_updates DROP CONSTRAINT poison")


async def test_an_update_left_unhandled_is_handled_by_the_sweep(start_app, tg_settings, db, tg,
                                                                chatflow, client_a) -> None:
    """A process that stored an update and died before handling it: the next sweep does it."""
    from datetime import timedelta
    client = await start_app(tg_settings)
    await open_request(db, client_a)
    await card_delivered(db)
    update = {"update_id": 31337, **topic_message(GROUP_A, 10, "сохранён, но не обработан")}
    await db.execute("""INSERT INTO telegram_updates (client_id, update_id, payload, received_at)
                        VALUES ($1, $2, $3, now() - interval '5 minutes')""",
                     client_a.id, 31337, update)
    desk = await running_desk(client)
    # this sweep, or the desk's own running every rescan, handles it: once
    await desk.updates.sweep(stale_after=timedelta(minutes=1), keep_for=timedelta(days=2))
    await wait_for(lambda: chatflow.delivered())
    assert [c["msg"] for c in chatflow.delivered()] == ["сохранён, но не обработан"]
    # marked once its handling returns: when the desk's own rescan took it, that can be after
    # the relay reached ChatFlow
    assert await wait_for(lambda: db.fetchval("SELECT processed_at IS NOT NULL FROM "
                                              "telegram_updates WHERE update_id = 31337"))


async def _is_taken(db) -> bool:
    return await state(db) == ("manager_active", "active")
