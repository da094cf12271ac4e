"""A turn that only answers is written in one statement (`Store.record_answer`): the customer's
lines then the reply, the reply's outbox row, the conversation's last message time and language,
the turn's events done and its conversation out of the queue; nothing of it when the
conversation moved on meanwhile (the general transaction applies the turn then) or when the
turn's events were claimed again by another worker."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from core.decision import Act
from core.delivery import Delivery
from core.desk import Desk
from core.models import Role, State
from core.outbound import CustomerText
from core.pipeline import TurnOutcome, TurnProcessor
from core.ports import AnsweredTurn, LostClaim, NewMessage
from gateway.turn_worker import to_message
from storage.repositories import inbox
from storage.repositories.outbox import LocalLease
from storage.store import PgStore, PgTenants
from tests.factories import make_client
from tests.queues.test_flood_claims import JID, LEASE, RecordingAnswerer, send


async def claimed_turn(db: asyncpg.Pool, slug: str) -> inbox.ClaimedTurn:
    client = await make_client(db, slug, debounce_seconds=0)
    await send(db, client.id, ["привет", "сколько стоит маникюр?"])
    (turn,) = await inbox.claim_turns(db, limit=1, lease=LEASE, view_history=5)
    assert turn.view is not None
    return turn


def answered(turn: inbox.ClaimedTurn, *, deliver: bool = True) -> AnsweredTurn:
    assert turn.view is not None
    seen = turn.view.conversation
    return AnsweredTurn(
        seen, "ru", None,
        ((Role.USER, NewMessage("привет", provider_message_id="m0")),
         (Role.USER, NewMessage("сколько стоит маникюр?", provider_message_id="m1")),
         (Role.ASSISTANT, NewMessage("Маникюр — 5 000 ₸", metadata={"act": "answer"}))),
        (seen.client_id, CustomerText(seen.id, JID, "Маникюр — 5 000 ₸"), f"reply:{seen.id}")
        if deliver else None,
        tuple((e.id, e.attempts) for e in turn.events))


async def written(db: asyncpg.Pool) -> dict[str, object]:
    return {
        "lines": [tuple(r) for r in await db.fetch(
            "SELECT role, content, provider_message_id FROM messages ORDER BY id")],
        "outbox": await db.fetchval("SELECT count(*) FROM outbox"),
        "events": await db.fetchval("SELECT array_agg(DISTINCT status) FROM inbound_events"),
        "queued": await db.fetchval("SELECT count(*) FROM turn_queue"),
        "language": await db.fetchval("SELECT language FROM conversations")}


async def test_an_answered_turn_is_written_at_once(db) -> None:
    turn = await claimed_turn(db, "answered")
    assert await PgStore(db).record_answer(answered(turn)) is True
    assert await written(db) == {
        "lines": [("user", "привет", "m0"), ("user", "сколько стоит маникюр?", "m1"),
                  ("assistant", "Маникюр — 5 000 ₸", None)],
        "outbox": 1, "events": ["done"], "queued": 0, "language": "ru"}
    row = await db.fetchrow("SELECT status, payload, idempotency_key FROM outbox")
    assert row["status"] == "pending" and row["payload"]["text"] == "Маникюр — 5 000 ₸"
    assert row["idempotency_key"] == f"reply:{turn.conversation_id}"


async def test_without_a_delivery_only_the_history_is_written(db) -> None:
    turn = await claimed_turn(db, "console")
    assert await PgStore(db).record_answer(answered(turn, deliver=False)) is True
    assert (await written(db))["outbox"] == 0
    assert len((await written(db))["lines"]) == 3


async def test_a_reply_written_leased_goes_to_this_process(db) -> None:
    turn = await claimed_turn(db, "leased")
    store, handed = PgStore(db), []
    store.deliver_locally(LocalLease(takes=lambda channel: channel == "whatsapp",
                                     lease=timedelta(minutes=1)), handed.extend)
    assert await store.record_answer(answered(turn)) is True
    (delivery,) = handed
    assert isinstance(delivery, Delivery) and delivery.attempts == 1
    assert delivery.message == CustomerText(turn.conversation_id, JID, "Маникюр — 5 000 ₸")
    assert await db.fetchval("SELECT status FROM outbox") == "processing"


async def change_conversation(db: asyncpg.Pool, change: str) -> None:
    async with db.acquire() as conn:
        await conn.execute("SET session_replication_role = replica")  # a state without handover
        try:
            await conn.execute(f"UPDATE conversations SET {change}")
        finally:
            await conn.execute("RESET session_replication_role")


@pytest.mark.parametrize("change", [
    "state = 'pending'",  # a manager was asked for meanwhile (the check is the write's)
    "bot_muted_until = now() + interval '1 hour'",
    "flood_notice_at = now()",
    "rating_handover_id = gen_random_uuid(), rating_due_until = now() + interval '1 hour'",
])
async def test_a_conversation_that_moved_on_gets_nothing_written(db, change) -> None:
    turn = await claimed_turn(db, "moved")
    await change_conversation(db, change)
    assert await PgStore(db).record_answer(answered(turn)) is False
    assert await written(db) == {"lines": [], "outbox": 0, "events": ["processing"],
                                 "queued": 1, "language": None}


async def test_a_turn_taken_over_by_another_worker_writes_nothing(db) -> None:
    turn = await claimed_turn(db, "taken")
    await db.execute("UPDATE inbound_events SET attempts = attempts + 1")  # claimed again
    with pytest.raises(LostClaim):
        await PgStore(db).record_answer(answered(turn))
    assert await written(db) == {"lines": [], "outbox": 0, "events": ["processing"],
                                 "queued": 1, "language": None}
    assert await db.fetchval("SELECT state FROM conversations") == State.BOT_ACTIVE


class CountingStore(PgStore):
    """Counts the turns written at once and the transactions opened."""

    def __init__(self, db: asyncpg.Pool) -> None:
        super().__init__(db)
        self.answered: list[bool] = []
        self.transactions = 0

    async def record_answer(self, turn: AnsweredTurn) -> bool:
        self.answered.append(await super().record_answer(turn))
        return self.answered[-1]

    def transaction(self):  # type: ignore[override]
        self.transactions += 1
        return super().transaction()


async def run_turn(db: asyncpg.Pool, store: CountingStore, *, flooding: bool = False,
                   before_apply: str | None = None) -> TurnOutcome:
    (turn,) = await inbox.claim_turns(db, limit=1, lease=LEASE, view_history=5)
    processor = TurnProcessor(store, PgTenants(db), RecordingAnswerer(), None, Desk(store))
    if before_apply is not None:  # the conversation moves while the turn is being decided
        decide = processor._decider.decide

        async def decide_then_change(*args, **kwargs):
            nonlocal before_apply
            decision = await decide(*args, **kwargs)
            if before_apply is not None:  # once
                await change_conversation(db, before_apply)
                before_apply = None
            return decision

        processor._decider.decide = decide_then_change  # type: ignore[method-assign]
    return await processor.process(turn.conversation_id, [to_message(e) for e in turn.events],
                                   flooding=flooding, view=turn.view)


async def test_the_pipeline_writes_an_answer_at_once_and_anything_else_in_a_transaction(db) -> None:
    client = await make_client(db, "routes", debounce_seconds=0)
    store = CountingStore(db)
    await send(db, client.id, ["сколько стоит маникюр?"])
    outcome = await run_turn(db, store)
    assert (outcome.act, outcome.reply, store.answered, store.transactions) == (
        Act.ANSWER, "Ответ.", [True], 0)

    await send(db, client.id, ["а педикюр?"], prefix="flood")
    await run_turn(db, store, flooding=True)  # a flood's first answer carries a notice
    assert (store.answered, store.transactions) == ([True], 1)
    assert await db.fetchval("SELECT count(*) FROM messages WHERE role = 'assistant'") == 3

    await send(db, client.id, ["позовите менеджера"], prefix="person")
    outcome = await run_turn(db, store)  # an escalation is not an answer
    assert (outcome.act, store.answered, store.transactions) == (Act.NO_DESK, [True], 2)


async def test_a_conversation_muted_during_the_turn_is_decided_again(db) -> None:
    client = await make_client(db, "muted-meanwhile", debounce_seconds=0)
    store = CountingStore(db)
    await send(db, client.id, ["сколько стоит маникюр?"])
    outcome = await run_turn(db, store, before_apply="bot_muted_until = now() + interval '1 hour'")
    assert store.answered == [False]  # the write saw the mute: the transaction decided again
    assert outcome.act == Act.SILENT and outcome.reply is None
    assert await db.fetchval("SELECT status FROM inbound_events") == "done"
    assert await db.fetchval("SELECT count(*) FROM messages WHERE role = 'assistant'") == 0
