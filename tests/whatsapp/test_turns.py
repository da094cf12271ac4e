"""Turns: debounce merges bursts, customers run in parallel, one customer's turns stay ordered,
and a crash mid-turn delivers exactly one reply."""

import asyncio
from datetime import timedelta

from pydantic import SecretStr

from core.answers import Answerer
from core.desk import Desk
from core.pipeline import TurnProcessor
from storage.repositories import clients
from storage.store import PgStore, PgTenants
from tests.factories import accept_event
from tests.fakes import wait_for
from tests.whatsapp.conftest import JID, post, text_payload


async def test_three_messages_half_a_second_apart_are_one_turn(start_app, wa_settings, demo, db,
                                                               chatflow) -> None:
    await clients.update_settings(db, demo.id, {"debounce_seconds": 1.5})
    client = await start_app(wa_settings)
    for index, text in enumerate(["Здравствуйте", "хочу узнать", "позовите менеджера"]):
        await post(client, text_payload(text, f"B-{index}"))
        await asyncio.sleep(0.5)
    await wait_for(lambda: chatflow.delivered(), timeout=15)
    await asyncio.sleep(0.5)
    assert len(chatflow.calls) == 1
    assert "менеджеру" in chatflow.calls[0]["msg"]
    users = await db.fetch("SELECT content FROM messages WHERE role = 'user' ORDER BY id")
    assert [r["content"] for r in users] == ["Здравствуйте", "хочу узнать", "позовите менеджера"]
    assert await db.fetchval("SELECT count(*) FROM messages WHERE role = 'assistant'") == 1


async def test_two_customers_are_processed_in_parallel(start_app, wa_settings, demo, db, chatflow,
                                                       openai_fake) -> None:
    openai_fake.delay = 1.0
    settings = wa_settings.model_copy(update={
        "openai_base_url": str(openai_fake.server.make_url("/v1")), "openai_api_key": SecretStr("sk-test-key")})
    client = await start_app(settings)
    await post(client, text_payload("Какие у вас есть услуги для лица?", "P-1", jid="77010000001@s.whatsapp.net"))
    await post(client, text_payload("Какие у вас есть услуги для лица?", "P-2", jid="77010000002@s.whatsapp.net"))
    await wait_for(lambda: len(chatflow.delivered()) == 2, timeout=15)
    # The two customers' answers were being generated at the same time.
    first, second = sorted(openai_fake.intervals)
    assert second[0] < first[1]


async def test_a_turn_waiting_on_the_model_leaves_its_worker_to_the_next_turn(
        start_app, wa_settings, demo, db, chatflow, openai_fake) -> None:
    """Two workers, a slow model, six customers: their answers are generated at the same time
    (a turn waiting on the LLM uses no CPU and holds no worker)."""
    openai_fake.delay = 1.0
    settings = wa_settings.model_copy(update={
        "workers": 2, "openai_base_url": str(openai_fake.server.make_url("/v1")),
        "openai_api_key": SecretStr("sk-test-key")})
    client = await start_app(settings)
    for index in range(6):
        await post(client, text_payload("Какие у вас есть услуги для лица?", f"W-{index}",
                                        jid=f"7701000002{index}@s.whatsapp.net"))
    await wait_for(lambda: len(chatflow.delivered()) == 6, timeout=20)
    answering = openai_fake.intervals
    together = max(sum(1 for start, end in answering if start <= moment < end)
                   for moment, _ in answering)
    assert together > 2, answering


async def test_turns_of_one_customer_stay_in_order(start_app, wa_settings, demo, db, chatflow) -> None:
    client = await start_app(wa_settings)
    texts = ["привет", "спасибо", "вы бот?", "позовите менеджера"]
    for index, text in enumerate(texts):
        await post(client, text_payload(text, f"O-{index}"))
        await wait_for(lambda i=index: len(chatflow.delivered()) == i + 1, timeout=10)
    rows = await db.fetch("SELECT role, content FROM messages ORDER BY id")
    assert [r["content"] for r in rows if r["role"] == "user"] == texts
    roles = [r["role"] for r in rows]
    assert roles == ["user", "assistant"] * 4
    replies = [c["msg"] for c in chatflow.delivered()]
    assert "Здравствуйте" in replies[0] and "Пожалуйста" in replies[1]
    assert "виртуальный помощник" in replies[2] and "менеджеру" in replies[3]


async def test_a_crash_between_claim_and_reply_delivers_exactly_one_reply(start_app, wa_settings, demo,
                                                                          db, chatflow, monkeypatch) -> None:
    """The worker that claims the turn first dies right there (its task ends, nothing is
    released); once the lease runs out the other worker takes the turn: one reply."""
    crashes = []
    real_process = TurnProcessor.process

    async def die_once(self, *args, **kwargs):
        if not crashes:
            crashes.append("claimed")
            raise asyncio.CancelledError  # what a killed worker looks like from inside the turn
        return await real_process(self, *args, **kwargs)

    monkeypatch.setattr(TurnProcessor, "process", die_once)
    settings = wa_settings.model_copy(update={"workers": 2, "turn_lease_seconds": 1.0})
    client = await start_app(settings)
    await post(client, text_payload("Привет", "CRASH-1"))
    await wait_for(lambda: crashes)
    assert await db.fetchval("SELECT status FROM inbound_events") == "processing"
    assert not chatflow.calls
    await wait_for(lambda: chatflow.delivered(), timeout=15)
    await asyncio.sleep(1.5)
    assert len(chatflow.delivered()) == 1 and len(chatflow.calls) == 1
    assert await db.fetchval("SELECT count(*) FROM messages WHERE role = 'assistant'") == 1
    event = await db.fetchrow("SELECT status, attempts FROM inbound_events")
    assert (event["status"], event["attempts"]) == ("done", 2)


async def test_a_crash_after_the_reply_was_committed_sends_it_once(db, demo, chatflow, wa_settings,
                                                                   start_app) -> None:
    """The turn committed (reply in the outbox) and the process died before sending: a restarted
    gateway sends the queued reply once; ChatFlow's msg_id makes a repeated send harmless."""
    client = await start_app(wa_settings)
    await post(client, text_payload("Привет", "AFTER-1"))
    await wait_for(lambda: chatflow.delivered())
    await client.close()
    # Pretend the sender died after ChatFlow accepted but before we marked it sent: the row is
    # still leased to it, and its lease has run out.
    await db.execute("""UPDATE outbox SET status = 'processing',
                               next_attempt_at = now() - interval '1 s'""")
    second = await start_app(wa_settings)
    await wait_for(lambda: len(chatflow.calls) == 2, timeout=10)
    assert chatflow.calls[0]["msg_id"] == chatflow.calls[1]["msg_id"]
    assert len(chatflow.delivered()) == 1
    await second.close()


async def test_processor_recovers_when_the_conversation_changes_mid_turn(db, demo, settings) -> None:
    """A manager takes the conversation while the answer is being prepared: the turn is decided
    again on the new state instead of answering over the manager."""
    from core.models import Intent
    from tests.factories import incoming, make_conversation

    conv = await make_conversation(db, demo.id)
    store = PgStore(db)

    class SlowAnswerer(Answerer):
        async def answer(self, request):
            # The state changes underneath the turn.
            await db.execute("UPDATE conversations SET bot_muted_until = now() + interval '1 h' WHERE id = $1", conv)
            return await super().answer(request)

    processor = TurnProcessor(store, PgTenants(db), SlowAnswerer(None, None), None, Desk(store))
    outcome = await processor.process(conv, [incoming("сколько стоит маникюр?", provider_message_id="X1")])
    assert outcome.act == "silent" and outcome.reply is None
    assert outcome.intent is None or outcome.intent != Intent.GREETING
    assert await db.fetchval("SELECT count(*) FROM messages WHERE role = 'assistant'") == 0


async def test_concurrent_claimers_never_overlap_a_conversation(db, demo) -> None:
    """Customers keep writing while six workers claim: every claim holds events, and a
    conversation is never claimed while one of its turns is still in progress."""
    import random

    from storage.repositories import inbox
    from tests.factories import make_conversation

    await make_conversation(db, demo.id)
    stop = asyncio.Event()
    active: set = set()
    problems: list[str] = []
    claimed: list[int] = []

    async def producer() -> None:
        n = 0
        while not stop.is_set():
            await accept_event(db, client_id=demo.id, branch_id=None, channel="whatsapp",
                               remote_jid=JID, name=None, provider_message_id=f"r{n}",
                               payload={"inbound": {"text": "x"}}, debounce=0)
            n += 1
            await asyncio.sleep(random.random() * 0.005)

    async def worker() -> None:
        while not stop.is_set():
            turns = await inbox.claim_turns(db, limit=1, lease=timedelta(seconds=60))
            if not turns:
                await asyncio.sleep(0.001)
                continue
            conversation_id, events = turns[0].conversation_id, turns[0].events
            if not events:
                problems.append("empty claim")
            if conversation_id in active:
                problems.append("overlapping turns")
            active.add(conversation_id)
            claimed.extend(e.id for e in events)
            await asyncio.sleep(random.random() * 0.01)
            active.discard(conversation_id)
            async with db.acquire() as conn, conn.transaction():
                await inbox.InboxRepo(conn).mark_done([(e.id, e.attempts) for e in events])

    tasks = [asyncio.create_task(producer())] + [asyncio.create_task(worker()) for _ in range(6)]
    # until enough claims have overlapped, however loaded the machine is (a fixed 3 s gave 30
    # claims under a load average of 8)
    deadline = asyncio.get_running_loop().time() + 60
    while len(claimed) < 60 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*tasks)
    assert problems == []
    assert len(claimed) == len(set(claimed)) >= 60


async def test_a_turn_that_outlived_its_lease_is_not_applied(db, demo) -> None:
    """Worker A's lease runs out, worker B claims the same events again; when A finally tries to
    commit its (stale) turn, nothing of it is applied."""
    from core.ports import LostClaim
    from gateway.turn_worker import to_message
    from storage.repositories import inbox
    from tests.factories import make_conversation

    conv = await make_conversation(db, demo.id)
    await accept_event(db, client_id=demo.id, branch_id=None, channel="whatsapp", remote_jid=JID,
                       name=None, provider_message_id="late-1",
                       payload={"inbound": {"text": "привет"}}, debounce=0)
    (first,) = [t.events for t in await inbox.claim_turns(db, limit=1, lease=timedelta(seconds=60))]
    await db.execute("UPDATE turn_queue SET due_at = now() - interval '1 s'")  # the lease ran out
    (second,) = [t.events for t in await inbox.claim_turns(db, limit=1, lease=timedelta(seconds=60))]
    assert [e.attempts for e in first] == [1] and [e.attempts for e in second] == [2]
    store = PgStore(db)
    processor = TurnProcessor(store, PgTenants(db), Answerer(None, None), None, Desk(store))
    try:
        await processor.process(conv, [to_message(e) for e in first])
        raise AssertionError("the stale turn was applied")
    except LostClaim:
        pass
    assert await db.fetchval("SELECT count(*) FROM messages") == 0
    assert await db.fetchval("SELECT count(*) FROM outbox") == 0
    outcome = await processor.process(conv, [to_message(e) for e in second])
    assert outcome.act == "small_talk"
    assert await db.fetchval("SELECT status FROM inbound_events") == "done"
