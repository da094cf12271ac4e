"""A manager's topic message handled again (a re-delivered or re-swept update) does nothing the
second time: not even the auto-take, which would otherwise take a newer pending request in the
name of the old message's author."""

from __future__ import annotations

from core.desk import Action, Actor, Desk
from core.relay import ManagerMessage, Relay
from storage.store import PgStore
from tests.factories import make_conversation
from tests.telegram.conftest import JID, open_request

AIDANA = Actor(501, "Айдана К")
ERZHAN = Actor(502, "Ержан")


async def test_an_old_message_handled_again_takes_no_newer_request(db, client_a) -> None:
    store = PgStore(db)
    desk = Desk(store)
    relay = Relay(store, desk)
    conv = await make_conversation(db, client_a.id, JID, telegram_chat_id=-100, telegram_topic_id=10)
    first = await open_request(db, client_a, conversation_id=conv)
    old = ManagerMessage(conversation_id=conv, source_key="-100:801", manager=AIDANA,
                         text="Добрый день, слушаю вас")

    outcome = await relay.manager_to_customer(old)
    assert (outcome.relayed, outcome.auto_taken) == (True, True)
    assert (await desk.act(Action.RESOLVE, first.handover.id, AIDANA)).ok

    newer = await open_request(db, client_a, "Снова нужен менеджер", conversation_id=conv)
    again = await relay.manager_to_customer(old)
    assert (again.relayed, again.reason, again.auto_taken) == (False, "duplicate", False)
    row = await db.fetchrow("SELECT status, assigned_to_name FROM handovers WHERE id = $1",
                            newer.handover.id)
    assert (row["status"], row["assigned_to_name"]) == ("pending", None)
    assert await db.fetchval("SELECT state FROM conversations WHERE id = $1", conv) == "pending"

    # A new message of another manager still takes it, in that manager's name.
    fresh = await relay.manager_to_customer(ManagerMessage(
        conversation_id=conv, source_key="-100:802", manager=ERZHAN, text="Слушаю"))
    assert (fresh.relayed, fresh.auto_taken) == (True, True)
    assert await db.fetchval("SELECT assigned_to_name FROM handovers WHERE id = $1",
                             newer.handover.id) == "Ержан"
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE idempotency_key LIKE 'tg-relay:%'") == 2
