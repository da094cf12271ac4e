"""Request cards and topics through the outbox: created once, reused, recreated, escaped,
retried after 429 and 5xx without doubles."""

from __future__ import annotations

import asyncio

from core.desk import Action, Actor, Desk
from storage.store import PgStore
from tests.telegram.conftest import open_request, outbox_rows
from tests.telegram.fakes import GROUP_A, TOKEN_A


async def test_card_creates_topic_once_sends_and_pins(db, desk, tg, client_a) -> None:
    escalation = await open_request(db, client_a)
    assert await desk.run() == 1

    (topic,) = tg.of("createForumTopic")
    assert topic.token == TOKEN_A
    assert topic.params == {"chat_id": GROUP_A, "name": "Айгерим · +77011234567"}
    (card,) = tg.of("sendMessage")
    assert card.params["chat_id"] == GROUP_A
    assert card.params["message_thread_id"] == 10
    assert card.params["parse_mode"] == "HTML"
    text = card.params["text"]
    assert "Клиент просит менеджера" in text and "Айгерим" in text and "+77011234567" in text
    buttons = [[b["callback_data"] for b in row] for row in card.params["reply_markup"]["inline_keyboard"]]
    hid = escalation.handover.id
    assert buttons == [[f"take:{hid}", f"return:{hid}"], [f"skip:{hid}"]]
    labels = [b["text"] for row in card.params["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Беру", "Вернуть боту", "Не могу"]
    (pin,) = tg.of("pinChatMessage")
    assert pin.params["chat_id"] == GROUP_A

    conv = await db.fetchrow("SELECT telegram_topic_id, telegram_chat_id FROM conversations")
    assert (conv["telegram_chat_id"], conv["telegram_topic_id"]) == (GROUP_A, 10)
    card_id = await db.fetchval("SELECT telegram_message_id FROM handovers")
    assert card_id == pin.params["message_id"]
    assert [r["status"] for r in await outbox_rows(db)] == ["sent"]


async def test_customer_html_arrives_escaped(db, desk, tg, client_a) -> None:
    await open_request(db, client_a, "<b>жирный</b> & <script>alert(1)</script>",
                       name="<i>Ева</i> & Co")
    await desk.run()
    text = tg.of("sendMessage")[0].params["text"]
    assert "&lt;b&gt;жирный&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;i&gt;Ева&lt;/i&gt; &amp; Co" in text
    assert "<script>" not in text and "<i>" not in text
    # the topic name is plain text, not HTML
    assert tg.of("createForumTopic")[0].params["name"] == "<i>Ева</i> & Co · +77011234567"


async def test_card_shows_the_last_five_history_lines(db, desk, tg, client_a) -> None:
    escalation = await open_request(db, client_a, "первое")
    conv = escalation.handover.conversation_id
    async with PgStore(db).transaction() as tx:
        for i in range(7):
            await tx.messages.add(conv, "user", f"строка {i}")
    await desk.run()
    text = tg.of("sendMessage")[0].params["text"]
    assert "строка 6" in text and "строка 2" in text and "строка 1" not in text


async def test_second_escalation_reuses_the_topic(db, desk, tg, client_a) -> None:
    first = await open_request(db, client_a)
    await desk.run()
    await Desk(PgStore(db)).act(Action.RETURN, first.handover.id, Actor(501, "Айдана"))
    await open_request(db, client_a, "снова менеджера", conversation_id=first.handover.conversation_id)
    await desk.run()
    assert len(tg.of("createForumTopic")) == 1
    cards = [c for c in tg.of("sendMessage") if "Новая заявка" in c.params["text"]]
    assert len(cards) == 2
    assert {c.params["message_thread_id"] for c in tg.of("sendMessage")} == {10}
    assert len(tg.of("pinChatMessage")) == 2


async def test_deleted_topic_is_recreated(db, desk, tg, client_a) -> None:
    first = await open_request(db, client_a)
    await desk.run()
    await Desk(PgStore(db)).act(Action.RETURN, first.handover.id, Actor(501, "Айдана"))
    await desk.run()
    tg.delete_topic(GROUP_A, 10)
    await open_request(db, client_a, "ещё раз", conversation_id=first.handover.conversation_id)
    await desk.run()
    assert len(tg.of("createForumTopic")) == 2
    topic = await db.fetchval("SELECT telegram_topic_id FROM conversations")
    assert topic == 11
    last_card = [c for c in tg.of("sendMessage") if "Новая заявка" in c.params["text"]][-1]
    assert last_card.params["message_thread_id"] == 11
    assert all(r["status"] == "sent" for r in await outbox_rows(db))


async def test_flood_control_429_is_retried_after_retry_after_without_doubles(db, desk, tg,
                                                                             client_a) -> None:
    await open_request(db, client_a)
    tg.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    await desk.run()
    (row,) = await outbox_rows(db)
    assert row["status"] == "pending" and "flood" in row["last_error"]
    wait = await db.fetchval("SELECT extract(epoch FROM next_attempt_at - now()) FROM outbox")
    assert 0.5 <= wait <= 1.5
    assert await desk.run() == 0  # not due yet
    await asyncio.sleep(1.05)  # the chat is held back for Telegram's retry_after
    await desk.make_due()
    await desk.run()
    (row,) = await outbox_rows(db)
    assert row["status"] == "sent" and row["attempts"] == 1  # the 429 used no attempt
    assert len(tg.of("createForumTopic")) == 1  # the topic of the first attempt was kept
    assert len(tg.of("pinChatMessage")) == 1
    assert await db.fetchval("SELECT telegram_message_id FROM handovers") is not None


async def test_server_errors_are_retried_and_delivered_once(db, desk, tg, client_a) -> None:
    await open_request(db, client_a)
    tg.fail("createForumTopic", 500)
    tg.fail("pinChatMessage", 502, "Bad Gateway")
    await desk.run()
    assert (await outbox_rows(db))[0]["status"] == "pending"
    await desk.make_due()
    await desk.run()  # topic + card now; the pin fails
    assert (await outbox_rows(db))[0]["status"] == "pending"
    await desk.make_due()
    await desk.run()  # the card is not sent again, only pinned
    (row,) = await outbox_rows(db)
    assert row["status"] == "sent" and row["attempts"] == 3
    assert len(tg.of("sendMessage")) == 1
    assert len(tg.of("createForumTopic")) == 2  # the failed call and the real one
    assert len(tg.of("pinChatMessage")) == 2


async def test_bad_request_is_not_retried(db, desk, tg, client_a) -> None:
    await open_request(db, client_a)
    tg.fail("createForumTopic", 400, "Bad Request: not enough rights to create a topic")
    await desk.run()
    (row,) = await outbox_rows(db)
    assert row["status"] == "failed" and "not enough rights" in row["last_error"]


async def test_client_without_group_gets_no_card(db, desk, tg) -> None:
    from tests.factories import make_client
    client = await make_client(db, "no_group", telegram_bot_token=TOKEN_A)
    await open_request(db, client)
    await desk.run()
    (row,) = await outbox_rows(db)
    assert row["status"] == "failed" and "no Telegram group" in row["last_error"]
    assert tg.calls == []


async def test_branch_group_overrides_the_clients(db, desk, tg, client_a) -> None:
    from storage.repositories import clients
    branch = await clients.add_branch(db, client_a.id, "center", "Center", telegram_chat_id=-100777)
    escalation = await open_request(db, client_a)
    await db.execute("UPDATE conversations SET branch_id = $1", branch.id)
    await desk.run()
    assert tg.of("createForumTopic")[0].params["chat_id"] == -100777
    assert escalation.created
