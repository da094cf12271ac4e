"""An anonymous admin of the desk group (Telegram shows GroupAnonymousBot as the sender and the
group itself as `sender_chat`) writes in a customer's topic: that is the manager answering."""

from __future__ import annotations

import asyncio

from tests.fakes import wait_for
from tests.telegram.conftest import JID, open_request, wait_handled
from tests.telegram.fakes import GROUP_A, TOKEN_A, topic_message
from tests.telegram.test_desk_app import card_delivered, equals, state

ANONYMOUS = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
DESK_CHAT = {"id": GROUP_A, "type": "supergroup", "is_forum": True, "title": "Desk"}


async def test_an_anonymous_admin_answers_and_takes_the_request(start_app, tg_settings, db, tg,
                                                                chatflow, client_a) -> None:
    await start_app(tg_settings)
    await open_request(db, client_a)
    await card_delivered(db)
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "Здравствуйте, это администратор",
                                          user=ANONYMOUS, sender_chat=DESK_CHAT,
                                          author_signature="Алия"))
    (sent,) = await wait_for(lambda: chatflow.delivered())
    assert (sent["jid"], sent["msg"]) == (JID, "Здравствуйте, это администратор")
    await wait_for(lambda: equals(state(db), ("manager_active", "active")))  # the auto-take
    taken = await db.fetchrow("SELECT assigned_to, assigned_to_name FROM handovers")
    assert (taken["assigned_to"], taken["assigned_to_name"]) == (GROUP_A, "Алия")
    await wait_for(lambda: "Алия взял заявку" in tg.sent_texts())


async def test_without_a_signature_the_group_title_names_the_manager(start_app, tg_settings, db,
                                                                      tg, chatflow,
                                                                      client_a) -> None:
    await start_app(tg_settings)
    await open_request(db, client_a)
    await card_delivered(db)
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "Слушаю вас", user=ANONYMOUS,
                                          sender_chat=DESK_CHAT))
    await wait_for(lambda: chatflow.delivered())
    await wait_for(lambda: equals(db.fetchval("SELECT assigned_to_name FROM handovers"), "Desk"))
    saved = await db.fetchrow("SELECT role, metadata FROM messages WHERE role = 'manager'")
    assert saved["metadata"]["manager_name"] == "Desk"


async def test_other_bots_and_channels_are_still_ignored(start_app, tg_settings, db, tg, chatflow,
                                                         client_a) -> None:
    await start_app(tg_settings)
    await open_request(db, client_a)
    await card_delivered(db)
    channel = {"id": -1009999999999, "type": "channel", "title": "News"}
    other_bot = {"id": 4242, "is_bot": True, "first_name": "Other"}
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "от канала", message_id=701,
                                          user=ANONYMOUS, sender_chat=channel))
    last = tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "от бота", message_id=702,
                                                 user=other_bot))
    await wait_handled(db, last)
    await asyncio.sleep(0.2)
    assert chatflow.calls == []
    assert await state(db) == ("pending", "pending")
