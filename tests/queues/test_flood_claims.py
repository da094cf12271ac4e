"""What a claimed turn carries (the flood shield, core.flood): at most max_events_per_turn
events, not past max_turn_chars of text, the rest waiting in order for the next turn; a flooding
customer's events merged, with one "please wait" per flood; and claims shared fairly among the
clients, whatever the backlog of one of them."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import asyncpg

from core.answers import Answer, Answerer
from core.desk import Desk
from core.flood import TurnLimits
from core.pipeline import TurnProcessor
from core.ports import AnswerRequest
from core.texts import CUSTOMER_DEFAULTS
from gateway.turn_worker import to_message
from storage.repositories import clients, inbox
from storage.store import PgStore, PgTenants
from tests.factories import accept_event, make_client

LEASE = timedelta(seconds=15)
JID = "77011234567@s.whatsapp.net"


async def send(db: asyncpg.Pool, client_id: UUID, texts: list[str], *, jid: str = JID,
               prefix: str = "m") -> UUID:
    """The customer's messages, stored as webhooks store them (no debounce)."""
    conversation_id = None
    for n, text in enumerate(texts):
        conversation_id, _ = await accept_event(
            db, client_id=client_id, branch_id=None, channel="whatsapp", remote_jid=jid, name=None,
            provider_message_id=f"{prefix}{n}", payload={"inbound": {"text": text}}, debounce=0)
    assert conversation_id is not None
    return conversation_id


async def done(db: asyncpg.Pool, turn: inbox.ClaimedTurn) -> None:
    async with db.acquire() as conn, conn.transaction():
        await inbox.InboxRepo(conn).mark_done([(e.id, e.attempts) for e in turn.events])


async def test_a_turn_stops_at_its_characters_and_the_rest_waits_in_order(db) -> None:
    client = await make_client(db, "chars", flood_messages_per_minute=600, debounce_seconds=0)
    await send(db, client.id, ["ы" * 300] * 30)
    sizes = []
    while turns := await inbox.claim_turns(db, limit=1, lease=LEASE):
        (turn,) = turns
        assert not turn.flooding
        assert sum(len(e.payload["inbound"]["text"]) for e in turn.events) <= 4000
        sizes.append([e.provider_message_id for e in turn.events])
        await done(db, turn)
    assert [len(s) for s in sizes] == [13, 13, 4]  # 13 × 300 characters fit in 4,000
    assert [m for s in sizes for m in s] == [f"m{n}" for n in range(30)]  # in arrival order
    assert await db.fetchval("SELECT count(*) FROM turn_queue") == 0


async def test_one_message_longer_than_the_cap_is_a_turn_of_its_own(db) -> None:
    client = await make_client(db, "long", flood_messages_per_minute=600, max_events_per_turn=3,
                               debounce_seconds=0)
    await send(db, client.id, ["д" * 9000, "коротко", "ещё", "и ещё", "последнее"])
    claimed = []
    while turns := await inbox.claim_turns(db, limit=1, lease=LEASE):
        claimed.append(len(turns[0].events))
        await done(db, turns[0])
    assert claimed == [1, 3, 1]  # the long one alone, then max_events_per_turn at a time


async def test_a_flood_is_merged_up_to_the_events_cap(db) -> None:
    client = await make_client(db, "flood", debounce_seconds=0)
    await send(db, client.id, ["ы" * 3000] * 50)  # more than 20 a minute: a flood
    (turn,) = await inbox.claim_turns(db, limit=1, lease=LEASE)
    assert turn.flooding and len(turn.events) == 20  # merged whatever their length
    assert await db.fetchval("SELECT count(*) FROM inbound_events WHERE status = 'queued'") == 30
    custom = TurnLimits(messages_per_minute=100, max_turn_chars=4000, max_events_per_turn=5)
    await done(db, turn)
    (calmer,) = await inbox.claim_turns(db, limit=1, lease=LEASE, limits=custom)
    assert not calmer.flooding and len(calmer.events) == 1  # under 100 a minute: by characters


async def test_claims_share_the_workers_among_the_clients(db) -> None:
    """Tenant X has 40 conversations waiting, all due before tenant Y's one: Y's is in the
    first claim all the same, and with X's turns in progress Y's next one goes first."""
    x = await make_client(db, "tenant_x", debounce_seconds=0)
    y = await make_client(db, "tenant_y", debounce_seconds=0)
    for n in range(40):
        await send(db, x.id, ["вопрос"], jid=f"7701000{n:04d}@s.whatsapp.net", prefix=f"x{n}-")
    await db.execute("UPDATE turn_queue SET due_at = now() - interval '1 minute'")
    y_first = await send(db, y.id, ["вопрос Y"], prefix="y1-")
    first = await inbox.claim_turns(db, limit=4, lease=LEASE)
    assert len(first) == 4 and y_first in [t.conversation_id for t in first]

    y_second = await send(db, y.id, ["ещё вопрос"], jid="77019999999@s.whatsapp.net", prefix="y2-")
    for turn in first:
        if turn.conversation_id == y_first:
            await done(db, turn)  # Y has nothing in progress now, X has three turns
    (next_one,) = await inbox.claim_turns(db, limit=1, lease=LEASE)
    assert next_one.conversation_id == y_second
    assert await db.fetchval("SELECT count(*) FROM turn_queue WHERE NOT leased") == 40 - 3


class RecordingAnswerer(Answerer):
    """No knowledge, no LLM: records the question each turn hands to the answer stage."""

    def __init__(self) -> None:
        super().__init__(None, None)
        self.questions: list[str] = []

    async def answer(self, request: AnswerRequest) -> Answer:
        self.questions.append(request.question)
        return Answer("Ответ.", "test")


async def test_one_please_wait_note_per_flood_and_the_bot_reads_a_capped_text(db) -> None:
    client = await make_client(db, "noted", debounce_seconds=0)
    await clients.update_settings(db, client.id, {"max_turn_chars": 1000})
    store = PgStore(db)
    answerer = RecordingAnswerer()
    processor = TurnProcessor(store, PgTenants(db), answerer, None, Desk(store))

    async def run_turns() -> int:
        count = 0
        while turns := await inbox.claim_turns(db, limit=1, lease=LEASE):
            (turn,) = turns
            await processor.process(turn.conversation_id, [to_message(e) for e in turn.events],
                                    flooding=turn.flooding)
            count += 1
        return count

    conversation = await send(db, client.id, ["сколько стоит маникюр? " * 40] * 45)
    assert await run_turns() == 3  # 45 messages of a flood, merged 20 at a time
    assert all(len(q) <= 1000 for q in answerer.questions)
    note = CUSTOMER_DEFAULTS["flood_notice"]
    sent = [r["payload"]["text"] for r in await db.fetch(
        "SELECT payload FROM outbox WHERE kind = 'send_text' ORDER BY id")]
    assert sent.count(note) == 1 and sent[0] == note  # before the first reply of the flood
    assert await db.fetchval("SELECT count(*) FROM messages WHERE role = 'user'") == 45

    # the flood is over (its messages are more than a minute old): the next turn clears the
    # mark, and a new flood gets a note of its own
    await db.execute("UPDATE inbound_events SET received_at = received_at - interval '2 minutes'")
    await send(db, client.id, ["спасибо"], prefix="calm")
    assert await run_turns() == 1
    assert await db.fetchval("SELECT flood_notice_at FROM conversations WHERE id = $1",
                             conversation) is None
    await send(db, client.id, ["а ещё?"] * 25, prefix="again")
    await run_turns()
    sent = [r["payload"]["text"] for r in await db.fetch(
        "SELECT payload FROM outbox WHERE kind = 'send_text' ORDER BY id")]
    assert sent.count(note) == 2


async def test_a_claimed_turn_knows_whether_events_wait_past_it(db) -> None:
    """What lets the worker skip a look at the queue after a turn (QueueWorker._done)."""
    client = await make_client(db, "rest", flood_messages_per_minute=600, debounce_seconds=0,
                               max_events_per_turn=3)
    await send(db, client.id, ["a", "b"], jid="77010000001@s.whatsapp.net", prefix="u")  # under
    await send(db, client.id, ["a", "b", "c"], jid="77010000002@s.whatsapp.net", prefix="c")  # cap
    await send(db, client.id, ["ы" * 3000] * 2, jid="77010000003@s.whatsapp.net", prefix="t")  # chars
    turns = await inbox.claim_turns(db, limit=3, lease=LEASE)
    assert sorted((len(t.events), t.more_waiting) for t in turns) == [
        (1, True), (2, False), (3, True)]
    for turn in turns:
        await done(db, turn)
    (rest,) = await inbox.claim_turns(db, limit=3, lease=LEASE)
    assert (len(rest.events), rest.more_waiting) == (1, False)
