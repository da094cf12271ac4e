"""A manager writing in the topic after the customer opted out of their request ("менеджер не
нужен") reaches nobody: the topic is told the message was not sent. After any other ending (a
resolve, a return to the bot) a follow-up still goes to the customer."""

from __future__ import annotations

from core.desk import Action, Actor, Desk
from core.models import Resolution, State
from core.relay import ManagerMessage, Relay
from core.texts import DESK
from storage.store import PgStore
from tests.factories import make_conversation
from tests.telegram.conftest import JID, open_request

AIDANA = Actor(501, "Айдана К")


async def relayed(db) -> int:
    return await db.fetchval("SELECT count(*) FROM outbox WHERE channel = 'whatsapp'")


async def notes(db) -> list[str]:
    rows = await db.fetch("""SELECT payload->>'text' AS text FROM outbox
                              WHERE kind = 'topic_message' AND idempotency_key LIKE 'tg-opted-out:%'
                              ORDER BY id""")
    return [r["text"] for r in rows]


async def test_no_message_reaches_a_customer_who_opted_out(db, client_a) -> None:
    store = PgStore(db)
    desk = Desk(store)
    relay = Relay(store, desk)
    conv = await make_conversation(db, client_a.id, JID, telegram_chat_id=-100, telegram_topic_id=10)
    escalation = await open_request(db, client_a, conversation_id=conv)
    async with store.transaction() as tx:  # as the pipeline does on "менеджер не нужен"
        await desk.close(tx, escalation.handover, State.PENDING, Resolution.CUSTOMER_OPT_OUT,
                         Actor(None, "Айгерим", kind="customer"),
                         note="🚫 Клиент отказался от связи с менеджером")

    late = ManagerMessage(conversation_id=conv, source_key="-100:801", manager=AIDANA,
                          text="Вы ещё здесь?")
    outcome = await relay.manager_to_customer(late)
    assert (outcome.relayed, outcome.reason) == (False, "opted_out")
    assert await relay.manager_to_customer(late) == outcome  # handled again: one note only
    assert await relayed(db) == 0
    assert await notes(db) == [DESK["opted_out_relay"]]
    assert await db.fetchval("SELECT count(*) FROM messages WHERE role = 'manager'") == 0

    # A new request opens the way again.
    await open_request(db, client_a, "Всё-таки нужен менеджер", conversation_id=conv)
    again = await relay.manager_to_customer(ManagerMessage(
        conversation_id=conv, source_key="-100:802", manager=AIDANA, text="Слушаю вас"))
    assert again.relayed and again.auto_taken
    assert await relayed(db) == 1


async def test_a_follow_up_after_resolve_still_reaches_the_customer(db, client_a) -> None:
    store = PgStore(db)
    desk = Desk(store)
    relay = Relay(store, desk)
    conv = await make_conversation(db, client_a.id, JID, telegram_chat_id=-100, telegram_topic_id=10)
    escalation = await open_request(db, client_a, conversation_id=conv)
    assert (await desk.act(Action.TAKE, escalation.handover.id, AIDANA)).ok
    assert (await desk.act(Action.RESOLVE, escalation.handover.id, AIDANA)).ok
    outcome = await relay.manager_to_customer(ManagerMessage(
        conversation_id=conv, source_key="-100:803", manager=AIDANA, text="Ждём вас завтра в 15:00"))
    assert outcome.relayed
    assert await relayed(db) == 1 and await notes(db) == []
