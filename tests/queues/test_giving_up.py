"""Nothing silent: a turn that fails for good still answers, and a reply that cannot be delivered
in time is replaced by one apology with the conversation handed to the desk."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.answers import Answerer
from core.decision import Decider
from core.delivery import DeliveryOutcome
from core.desk import Desk
from core.inbound import MAX_TURN_ATTEMPTS
from core.outbound import CustomerText
from core.pipeline import TurnProcessor
from core.texts import CUSTOMER_DEFAULTS
from gateway.outbox_worker import OutboxWorker
from gateway.turn_worker import TurnWorker
from storage.store import PgStore, PgTenants
from tests.factories import accept_event, make_client, make_conversation

JID = "77011234567@s.whatsapp.net"


async def test_a_turn_that_keeps_failing_answers_with_the_fallback_once(
        db, database_dsn, monkeypatch: pytest.MonkeyPatch) -> None:
    client = await make_client(db, "salon", debounce_seconds=0)
    await make_conversation(db, client.id, JID)

    async def broken(self, *args, **kwargs):
        raise RuntimeError("the classifier is broken")

    monkeypatch.setattr(Decider, "decide", broken)
    store = PgStore(db)
    processor = TurnProcessor(store, PgTenants(db), Answerer(None, None), None, Desk(store))
    worker = TurnWorker(db, database_dsn, processor, lease=timedelta(seconds=30))
    await accept_event(db, client_id=client.id, branch_id=None, channel="whatsapp", remote_jid=JID,
                       name="Айгерим", provider_message_id="m-1",
                       payload={"inbound": {"text": "сколько стоит?"}}, debounce=0)
    for attempt in range(1, MAX_TURN_ATTEMPTS + 1):
        await db.execute("UPDATE turn_queue SET due_at = now()")  # the retry's backoff is over
        assert await worker.run_once() == 1, attempt
    assert await worker.run_once() == 0
    event = await db.fetchrow("SELECT status, attempts, last_error FROM inbound_events")
    assert (event["status"], event["attempts"]) == ("failed", MAX_TURN_ATTEMPTS)
    assert "the classifier is broken" in event["last_error"]
    assert await db.fetchval("SELECT count(*) FROM turn_queue") == 0
    fallback = CUSTOMER_DEFAULTS["fallback_no_desk"]  # the client has no desk to offer
    history = await db.fetch("SELECT role, content FROM messages ORDER BY id")
    assert [(r["role"], r["content"]) for r in history] == [
        ("user", "сколько стоит?"), ("assistant", fallback)]
    replies = await db.fetch("SELECT payload FROM outbox WHERE channel = 'whatsapp'")
    assert [r["payload"]["text"] for r in replies] == [fallback]


class Unreachable:
    async def deliver(self, delivery) -> DeliveryOutcome:
        return DeliveryOutcome.failed("ChatFlow send-text: ClientConnectorError")


async def test_an_undelivered_reply_becomes_an_apology_and_a_request(db, database_dsn) -> None:
    client = await make_client(db, "salon", telegram_bot_token="1:x", telegram_chat_id=-100)
    conversation = await make_conversation(db, client.id, JID)
    store = PgStore(db, reply_retry=timedelta(0))  # the reply's retry window is over at once
    async with store.transaction() as tx:
        await tx.messages.add(conversation, "user", "когда вы работаете?")
        await tx.outbox.enqueue(client.id, CustomerText(conversation, JID, "С 9 до 21"), "reply:1")
    worker = OutboxWorker(db, database_dsn, {"whatsapp": Unreachable()}, store=store,
                          tenants=PgTenants(db))
    assert await worker.run_once() == 1
    rows = {r["idempotency_key"]: r for r in await db.fetch("SELECT * FROM outbox")}
    assert rows["reply:1"]["status"] == "failed"
    assert rows["reply:1:apology"]["payload"]["text"] == CUSTOMER_DEFAULTS["delivery_apology"]
    assert rows["reply:1:apology"]["status"] == "pending"
    handover = await db.fetchrow("SELECT trigger_type, trigger_value, user_message FROM handovers")
    assert dict(handover) == {"trigger_type": "system", "trigger_value": "undelivered_reply",
                              "user_message": "когда вы работаете?"}
    assert await db.fetchval("SELECT state FROM conversations") == "pending"
    assert any(key.startswith("card:") for key in rows)
