"""When the customer's topic is gone and the sender recreates it for a message while the request
is still open, the request card (with its buttons) is posted again in the new topic."""

from __future__ import annotations

from core.desk import Action, Actor, Desk
from core.outbound import Mirror, TopicMessage
from storage.store import PgStore
from tests.telegram.conftest import open_request, outbox_rows
from tests.telegram.fakes import GROUP_A
from tests.telegram.test_topic_effects import enqueue


def buttons(call) -> list[list[str]]:
    return [[b["callback_data"] for b in row] for row in call.params["reply_markup"]["inline_keyboard"]]


async def test_a_pending_request_gets_its_card_again_in_the_new_topic(db, desk, tg, client_a) -> None:
    escalation = await open_request(db, client_a)
    await desk.run()
    hid, conv = escalation.handover.id, escalation.handover.conversation_id
    old_card = await db.fetchval("SELECT telegram_message_id FROM handovers")
    tg.delete_topic(GROUP_A, 10)
    await enqueue(db, client_a.id, Mirror(conv, ("ещё вопрос",)), "m1")
    await desk.run()

    assert len(tg.of("createForumTopic")) == 2
    cards = [c for c in tg.of("sendMessage") if c.params.get("reply_markup")]
    assert len(cards) == 2 and cards[1].params["message_thread_id"] == 11
    assert buttons(cards[1]) == [[f"take:{hid}", f"return:{hid}"], [f"skip:{hid}"]]
    assert "ещё вопрос" in tg.sent_texts()[-2]  # the message itself, in the new topic
    new_card = await db.fetchval("SELECT telegram_message_id FROM handovers")
    assert new_card != old_card
    assert tg.of("pinChatMessage")[-1].params["message_id"] == new_card
    assert all(r["status"] == "sent" for r in await outbox_rows(db))

    # the card's later changes go to the new card
    assert (await Desk(PgStore(db)).act(Action.TAKE, hid, Actor(501, "Айдана"))).ok
    await desk.run()
    assert tg.of("editMessageReplyMarkup")[-1].params["message_id"] == new_card


async def test_a_taken_request_gets_a_resolve_button_once(db, desk, tg, client_a) -> None:
    escalation = await open_request(db, client_a)
    await desk.run()
    hid, conv = escalation.handover.id, escalation.handover.conversation_id
    assert (await Desk(PgStore(db)).act(Action.TAKE, hid, Actor(501, "Айдана"))).ok
    await desk.run()
    tg.delete_topic(GROUP_A, 10)
    await enqueue(db, client_a.id, TopicMessage(conv, "заметка"), "n1")
    await enqueue(db, client_a.id, TopicMessage(conv, "ещё заметка"), "n2")
    await desk.run()

    assert len(tg.of("createForumTopic")) == 2
    cards = [c for c in tg.of("sendMessage") if c.params.get("reply_markup")]
    assert len(cards) == 2 and cards[1].params["message_thread_id"] == 11
    assert buttons(cards[1]) == [[f"resolve:{hid}"]]
    assert await db.fetchval("SELECT telegram_message_id FROM handovers") == \
        tg.of("pinChatMessage")[-1].params["message_id"]


async def test_no_card_again_once_the_request_is_closed(db, desk, tg, client_a) -> None:
    escalation = await open_request(db, client_a)
    await desk.run()
    hid, conv = escalation.handover.id, escalation.handover.conversation_id
    assert (await Desk(PgStore(db)).act(Action.RETURN, hid, Actor(501, "Айдана"))).ok
    await desk.run()
    tg.delete_topic(GROUP_A, 10)
    await enqueue(db, client_a.id, TopicMessage(conv, "заметка"), "n1")
    await desk.run()
    assert len(tg.of("createForumTopic")) == 2
    assert len([c for c in tg.of("sendMessage") if c.params.get("reply_markup")]) == 1
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE kind = 'card_repost'") == 0
