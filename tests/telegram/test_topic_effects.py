"""The other telegram kinds: buttons, unpin, notes, mirrored customer messages, customer media,
the learning offer; and the per-chat rate limiter."""

from __future__ import annotations

import time

from channels.telegram.cards import MESSAGE_LIMIT, escaped_pieces
from channels.telegram.ratelimit import ChatRateLimiter, RateLimits
from core.desk import Action, Actor, Desk
from core.models import HandoverStatus
from core.outbound import CardUpdate, LearnOffer, MediaForward, Mirror, TopicMessage, UnpinCard
from storage.store import PgStore
from tests.telegram.conftest import open_request, outbox_rows
from tests.telegram.fakes import GROUP_A


async def enqueue(db, client_id, message, key: str) -> None:
    async with PgStore(db).transaction() as tx:
        await tx.outbox.enqueue(client_id, message, key)


async def test_take_then_resolve_edit_buttons_and_unpin(db, desk, tg, client_a) -> None:
    escalation = await open_request(db, client_a)
    await desk.run()
    card_id = await db.fetchval("SELECT telegram_message_id FROM handovers")
    actions = Desk(PgStore(db))
    hid = escalation.handover.id
    assert (await actions.act(Action.TAKE, hid, Actor(501, "Айдана"))).ok
    await desk.run()
    (edit,) = tg.of("editMessageReplyMarkup")
    assert edit.params["message_id"] == card_id
    assert edit.params["reply_markup"]["inline_keyboard"] == [[{"text": "Решено",
                                                                "callback_data": f"resolve:{hid}"}]]
    assert tg.sent_texts()[-1] == "Айдана взял заявку"

    assert (await actions.act(Action.RESOLVE, hid, Actor(501, "Айдана"))).ok
    await desk.run()
    assert tg.of("editMessageReplyMarkup")[-1].params["reply_markup"]["inline_keyboard"] == []
    (unpin,) = tg.of("unpinChatMessage")
    assert unpin.params == {"chat_id": GROUP_A, "message_id": card_id}
    assert tg.sent_texts()[-1] == "✅ Решено (Айдана)"
    assert all(r["status"] == "sent" for r in await outbox_rows(db))


async def test_buttons_of_a_card_never_sent_are_skipped(db, desk, tg, client_a) -> None:
    escalation = await open_request(db, client_a)
    await db.execute("DELETE FROM outbox")
    conv = escalation.handover.conversation_id
    await enqueue(db, client_a.id, CardUpdate(conv, escalation.handover.id,
                                              HandoverStatus.RESOLVED), "b")
    await enqueue(db, client_a.id, UnpinCard(conv, escalation.handover.id), "u")
    await desk.run()
    assert [r["result"] for r in await outbox_rows(db)] == [{"skipped": "no card"}] * 2
    assert tg.calls == []


async def test_reminder_note_replies_to_the_card(db, desk, tg, client_a) -> None:
    escalation = await open_request(db, client_a)
    await desk.run()
    card_id = await db.fetchval("SELECT telegram_message_id FROM handovers")
    await enqueue(db, client_a.id, TopicMessage(
        escalation.handover.conversation_id, "⏰ Заявка ждёт 30 мин <b>",
        handover_id=escalation.handover.id, reply_to_card=True), "r1")
    await desk.run()
    note = tg.of("sendMessage")[-1].params
    assert note["text"] == "⏰ Заявка ждёт 30 мин &lt;b&gt;"
    assert note["reply_parameters"]["message_id"] == card_id
    assert note["message_thread_id"] == 10


async def test_a_burst_is_mirrored_as_one_escaped_message(db, desk, tg, client_a) -> None:
    escalation = await open_request(db, client_a)
    conv = escalation.handover.conversation_id
    await enqueue(db, client_a.id, Mirror(conv, ("алло", "вы тут?", "<b>срочно</b> & быстро")),
                  "m1")
    await desk.run()
    mirrored = tg.sent_texts()[-1]
    assert mirrored == "👤 Клиент: алло\nвы тут?\n&lt;b&gt;срочно&lt;/b&gt; &amp; быстро"
    assert len(tg.of("sendMessage")) == 2  # the card and one mirror


async def test_long_mirror_is_split_at_telegrams_limit() -> None:
    pieces = escaped_pieces("👤 Клиент: " + "\n".join(["&" * 1000] * 6))
    assert len(pieces) > 1
    assert all(len(p) <= MESSAGE_LIMIT for p in pieces)
    assert all(not p.endswith("&am") for p in pieces)
    assert "".join(pieces).count("&amp;") == 6000


async def test_customer_photo_is_forwarded_by_url(db, desk, tg, client_a) -> None:
    escalation = await open_request(db, client_a)
    media = {"type": "image", "mimetype": "image/jpeg", "url": "https://cdn.example/p.jpg",
             "fileName": None, "caption": "вот <фото>"}
    await enqueue(db, client_a.id, MediaForward(escalation.handover.conversation_id, media), "f1")
    await desk.run()
    (photo,) = tg.of("sendPhoto")
    assert photo.params["photo"] == "https://cdn.example/p.jpg"
    assert photo.params["caption"] == "👤 Клиент: вот &lt;фото&gt;"
    assert photo.params["message_thread_id"] == 10


async def test_refused_media_falls_back_to_a_link(db, desk, tg, client_a) -> None:
    escalation = await open_request(db, client_a)
    tg.fail("sendDocument", 400, "Bad Request: wrong file identifier/HTTP URL specified")
    media = {"type": "document", "mimetype": "application/pdf", "url": "https://cdn.example/a.pdf",
             "fileName": "a.pdf", "caption": ""}
    await enqueue(db, client_a.id, MediaForward(escalation.handover.conversation_id, media), "f1")
    await desk.run()
    assert "https://cdn.example/a.pdf" in tg.sent_texts()[-1]
    assert (await outbox_rows(db))[-1]["status"] == "sent"


async def test_learn_offer_goes_to_the_owner(db, desk, tg, client_a) -> None:
    escalation = await open_request(db, client_a, "Есть ли парковка?")
    await db.execute("UPDATE handovers SET manager_response = 'Да, бесплатная'")
    await enqueue(db, client_a.id, LearnOffer(escalation.handover.conversation_id,
                                              escalation.handover.id), "l1")
    await desk.run()
    offer = tg.of("sendMessage")[-1].params
    assert "Есть ли парковка?" in offer["text"] and "Да, бесплатная" in offer["text"]
    assert "tg://user?id=900" in offer["text"]
    assert offer["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == \
        f"learn:{escalation.handover.id}"


async def test_rate_limiter_spaces_messages_per_chat() -> None:
    limiter = ChatRateLimiter(RateLimits(min_interval=0.1, per_minute=3))
    limiter.WINDOW = 0.5
    started = time.monotonic()
    for _ in range(3):
        await limiter.wait_turn(1)
    assert time.monotonic() - started >= 0.2  # 1 s apart in production, 0.1 s here
    (slot,) = limiter.reserve(2)  # another chat is not spaced behind the first one
    assert slot <= time.monotonic()
    await limiter.wait_turn(1)  # the fourth in the window waits for the window
    assert time.monotonic() - started >= 0.5


async def test_bot_tokens_never_reach_logs_or_the_outbox() -> None:
    from aiogram.exceptions import TelegramNetworkError
    from aiogram.methods import GetUpdates

    from channels.telegram.errors import describe
    exc = TelegramNetworkError(GetUpdates(), "ClientOSError: Can not write request body for "
                                             "http://127.0.0.1:1/bot111111:AAsecret_token-x/getUpdates")
    assert "AAsecret" not in describe(exc) and "bot<token>/getUpdates" in describe(exc)
