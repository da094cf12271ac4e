"""The outage suite (issue 11): each peer of the gateway down for 30 simulated minutes while
customers talk, ask for a person and a manager answers; afterwards every reply, card, mirror,
note and reminder was delivered exactly once (by idempotency key at ChatFlow, by content in
the topic at Telegram), in order per conversation, every message is in the history and every
invariant holds. And a request made while Telegram is down for an hour gets its card once when
Telegram is back, followed by the reminders due by then.

The gateway runs in this process (`world.py`): simulated time moves the database's
timestamps, so the real retry backoffs, reply deadlines and reminder timeouts apply. Figures
are printed (`pytest -n 0 -s`) and written to `outage-figures.json` in the test's tmp dir."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from gateway.keys import KNOWLEDGE
from storage.database import create_pool, with_database
from storage.migrate import apply_migrations
from tests.chaos.ledger import (
    Ledger,
    check_history,
    check_invariants,
    check_telegram_once_in_order,
    check_turns,
    check_whatsapp_once_in_order,
    sent_outbox,
)
from tests.chaos.peers import Down, Peers
from tests.chaos.postgres import RestartablePostgres
from tests.chaos.world import World

OUTAGE_MINUTES = 30
DATABASE_DOWN_SECONDS = 5.0
Step = Callable[[World], Awaitable[object]]

# What happens during the outage, by simulated minute: questions, a request for a person, the
# manager answering in a topic, customers writing into their topics.
SCRIPT: dict[int, list[Step]] = {
    0: [lambda w: w.say(3), lambda w: w.say(2)],
    2: [lambda w: w.ask_for_person(4)],
    5: [lambda w: w.manager_writes(1, "Здравствуйте! Запишу вас на пятницу.")],
    8: [lambda w: w.say(1, "спасибо, а во сколько")],
    12: [lambda w: w.say(2, "а педикюр сколько стоит")],
    20: [lambda w: w.say(3, "где вы находитесь"), lambda w: w.say(4, "жду менеджера")],
    29: [lambda w: w.say(5)],
}


@pytest_asyncio.fixture
async def world(fresh_dsn: str, fresh_db: asyncpg.Pool, peers: Peers,
                tmp_path: Path) -> AsyncIterator[World]:
    started = World(fresh_dsn, fresh_db, peers, tmp_path)
    try:
        await started.start()
        yield started
    finally:
        await started.close()


async def books(world: World) -> Ledger:
    ledger = Ledger()
    outbox = await sent_outbox(world.db, ledger)
    await check_history(world.db, world.messages, ledger)
    await check_turns(world.db, outbox, ledger)
    check_whatsapp_once_in_order(world.peers, outbox, ledger)
    await check_telegram_once_in_order(world.db, world.peers, outbox, ledger)
    await check_invariants(world.db, ledger)
    return ledger


def report(tmp_path: Path, name: str, figures: dict[str, object]) -> None:
    (tmp_path / "outage-figures.json").write_text(json.dumps(figures, indent=2))
    print(f"\noutage suite ({name}): " + ", ".join(f"{k}={v}" for k, v in figures.items()))


@pytest.mark.parametrize(("peer", "how"), [
    ("chatflow", Down.REFUSED), ("telegram", Down.BAD_GATEWAY), ("llm", Down.BAD_GATEWAY),
    ("embedder", Down.REFUSED)])
async def test_a_peer_down_for_30_minutes_loses_nothing_and_repeats_nothing(
        peer: str, how: Down, world: World, tmp_path: Path) -> None:
    await world.ask_for_person(1)  # a request a manager has taken before the outage
    await world.settled()
    await world.manager_takes(1)
    await world.updates_handled()
    await world.say(2)
    await world.settled()

    await world.peers[peer].down(how)
    for minute in range(OUTAGE_MINUTES):
        for step in SCRIPT.get(minute, ()):
            await step(world)
        await world.advance(1)
    await world.peers[peer].up()
    recovered_in = await world.drain()
    await world.updates_handled()  # the manager's answer, fetched once Telegram is back
    recovered_in += await world.drain()

    ledger = await books(world)
    assert not ledger.problems, "\n".join(ledger.problems)
    retried = await world.db.fetchval("SELECT max(attempts) FROM outbox")
    apologies = await world.db.fetchval(
        "SELECT count(*) FROM outbox WHERE idempotency_key LIKE '%:apology'")
    assert apologies == 0  # 30 minutes is within every reply's retry window
    relayed = await world.db.fetchval("SELECT count(*) FROM messages WHERE role = 'manager'")
    assert relayed == 1
    felt = {"chatflow": retried > 1, "telegram": world.peers[peer].failed > 0,
            "llm": world.peers[peer].failed > 0, "embedder": await degraded_answers(world) > 0}
    assert felt[peer], f"the {peer} outage went unnoticed"
    report(tmp_path, peer, {
        "peer": peer, "down_as": how.value, "outage_minutes": OUTAGE_MINUTES,
        "messages": len(world.messages), "turns": len(ledger.turns),
        "deliveries": await world.db.fetchval("SELECT count(*) FROM outbox"),
        "max_attempts_of_a_delivery": retried, "requests_turned_away": world.peers[peer].failed,
        "simulated_minutes_to_deliver_after_return": recovered_in,
        "operator_alerts": len(world.operator_alerts())})


@pytest.mark.filterwarnings("ignore:Failed to obtain server version:UserWarning")
async def test_without_its_qdrant_server_the_gateway_answers_everything_without_knowledge(
        fresh_dsn: str, fresh_db: asyncpg.Pool, peers: Peers, tmp_path: Path) -> None:
    world = World(fresh_dsn, fresh_db, peers, tmp_path, qdrant=True)
    try:
        await world.start()
        await world.ask_for_person(1)
        await world.settled()
        await world.manager_takes(1)
        await world.updates_handled()
        for minute in range(OUTAGE_MINUTES):
            for step in SCRIPT.get(minute, ()):
                await step(world)
            await world.advance(1)
        await world.updates_handled()
        await world.drain()
        ledger = await books(world)
        assert not ledger.problems, "\n".join(ledger.problems)
        assert world.client is not None and world.client.app[KNOWLEDGE].current is None
        assert world.peers["qdrant"].failed > 0
        report(tmp_path, "qdrant", {
            "peer": "qdrant", "down_as": "502 throughout", "outage_minutes": OUTAGE_MINUTES,
            "messages": len(world.messages), "turns": len(ledger.turns),
            "requests_turned_away": world.peers["qdrant"].failed})
    finally:
        await world.close()


async def degraded_answers(world: World) -> int:
    return await world.db.fetchval(
        """SELECT count(*) FROM messages
            WHERE role = 'assistant' AND jsonb_array_length(metadata -> 'degraded') > 0""")


async def test_a_request_made_while_telegram_is_down_for_an_hour_gets_one_card_and_its_reminders(
        world: World, tmp_path: Path) -> None:
    await world.peers["telegram"].down(Down.REFUSED)
    await world.ask_for_person(7)
    await world.advance(60)
    assert await world.db.fetchval("SELECT count(*) FROM outbox WHERE status = 'sent' "
                                   "AND channel = 'telegram'") == 0
    await world.peers["telegram"].up()
    carded_in = await world.drain()
    await world.advance(2)  # two more scheduler passes: reminder 1, then reminder 2
    await world.drain()

    ledger = await books(world)
    assert not ledger.problems, "\n".join(ledger.problems)
    topic, _, _ = await world.topic_of(7)
    shown = [a.params["text"] for a in world.peers["telegram"].answered
             if a.path.endswith("/sendMessage") and str(a.params.get("message_thread_id")) == str(topic)]
    assert len(shown) == 3, shown
    assert "Новая заявка" in shown[0]
    assert shown[1].startswith("⏰ Заявка ждёт") and shown[2].startswith("🔴 Срочно")
    to_customer = [a.params["msg"] for a in world.peers["chatflow"].answered]
    assert len(to_customer) == 1  # "a manager will write", once
    # the operator is told once (held while Telegram refused, handed over when it came back),
    # and the owners get one copy
    (alert,) = world.operator_alerts()
    assert "Telegram-деск недоступен" in alert, alert
    assert await world.db.fetchval("SELECT count(*) FROM outbox WHERE kind = 'owner_report'") == 1
    report(tmp_path, "telegram-hour", {
        "peer": "telegram", "down_as": "refused", "outage_minutes": 60,
        "simulated_minutes_to_card_after_return": carded_in,
        "reminders": len(shown) - 1, "operator_alerts": len(world.operator_alerts()),
        "owner_alert_copies": await world.db.fetchval(
            "SELECT count(*) FROM outbox WHERE kind = 'owner_report'")})


@pytest_asyncio.fixture
async def restartable(tmp_path: Path) -> AsyncIterator[tuple[RestartablePostgres, str]]:
    """A PostgreSQL server of this test's own with a migrated database; (server, its DSN)."""
    server = RestartablePostgres(tmp_path / "pg")
    try:
        dsn = with_database(await asyncio.to_thread(server.start), "truffles_restart")
        admin = await asyncpg.connect(with_database(dsn, "postgres"))
        await admin.execute('CREATE DATABASE "truffles_restart"')
        await admin.close()
        conn = await asyncpg.connect(dsn)
        await apply_migrations(conn)
        await conn.close()
        yield server, dsn
    finally:
        await asyncio.to_thread(server.close)


async def test_postgresql_restarted_mid_conversation_loses_nothing(
        restartable: tuple[RestartablePostgres, str], peers: Peers, tmp_path: Path) -> None:
    """The database is the clock, so this outage is real seconds, not simulated minutes: the
    webhooks get 503 meanwhile and are offered again (as ChatFlow does), the workers wait."""
    server, dsn = restartable
    pools = [await create_pool(dsn, max_size=4)]
    world = World(dsn, pools[0], peers, tmp_path)
    try:
        await world.start()
        await world.ask_for_person(1)
        await world.settled()
        await world.manager_takes(1)
        await world.updates_handled()
        await world.say(2)
        await world.settled()
        topic, _, _ = await world.topic_of(1)

        await asyncio.to_thread(server.stop)
        started = time.monotonic()
        during = [asyncio.create_task(world.say(3)), asyncio.create_task(world.ask_for_person(4)),
                  asyncio.create_task(world.say(2, "а педикюр сколько стоит"))]
        world.manager_writes_in(topic, "Здравствуйте! Запишу вас на пятницу.")
        await asyncio.sleep(DATABASE_DOWN_SECONDS)
        await asyncio.to_thread(server.start_again)
        down_for = time.monotonic() - started
        await asyncio.gather(*during)
        pools.append(await create_pool(dsn, max_size=4))  # the old pool's connections were cut
        world.db = pools[-1]
        await world.updates_handled()
        await world.drain()

        ledger = await books(world)
        assert not ledger.problems, "\n".join(ledger.problems)
        turned_away = sum(m.tries - 1 for m in world.messages)
        assert turned_away > 0  # webhooks were refused (503) while the database was down
        report(tmp_path, "postgresql", {
            "peer": "postgresql", "down_as": "stopped (fast shutdown)",
            "outage_seconds": round(down_for, 1), "messages": len(world.messages),
            "webhooks_answered_503": turned_away,
            "deliveries": await world.db.fetchval("SELECT count(*) FROM outbox")})
    finally:
        await world.close()
        for pool in pools:
            await pool.close()
