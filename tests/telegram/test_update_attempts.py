"""Stored Telegram updates: handling holds a short lease renewed by a heartbeat, so a sweep (here,
another replica's) does not handle an update a second time while it is still being handled;
transient failures and handlings cut by the timeout are tried again by the sweep, at most
MAX_ATTEMPTS times in all, without holding up the updates behind them; other failures drop the
update at once. In polling mode an update that cannot be stored is skipped after a few tries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiogram import Dispatcher, Router
from aiogram.types import Message

from channels.telegram.bots import BotRegistry
from channels.telegram.updates import MAX_ATTEMPTS, UpdateProcessor
from storage.repositories.desk import PgUpdateLog
from storage.retry import TRANSIENT
from storage.store import PgTenants
from tests.fakes import wait_for
from tests.telegram.fakes import GROUP_A, topic_message

STALE = timedelta(seconds=60)
KEEP = timedelta(days=2)


@pytest.fixture
async def processors(db) -> AsyncIterator[Callable[..., UpdateProcessor]]:
    """Update processors over the same database, as separate replicas would have, each with a
    dispatcher whose only message handler is the test's."""
    registries: list[BotRegistry] = []

    def make(handler: Callable[[Message], Any], **options: Any) -> UpdateProcessor:
        router = Router()
        router.message.register(handler)
        dispatcher = Dispatcher()
        dispatcher.include_router(router)
        registries.append(BotRegistry("http://127.0.0.1:9"))
        return UpdateProcessor(dispatcher, PgUpdateLog(db), registries[-1], PgTenants(db),
                               transient=TRANSIENT, **options)

    yield make
    for registry in registries:
        await registry.close()


def manager_text(update_id: int) -> dict[str, Any]:
    return {"update_id": update_id, **topic_message(GROUP_A, 10, "ответ")}


async def lease_runs_out(db: asyncpg.Pool) -> None:
    """Time passes: every lease has run out and every update is old enough for the sweep."""
    await db.execute("""UPDATE telegram_updates SET claimed_until = now() - interval '1 second',
                               received_at = now() - interval '5 minutes'""")


async def test_the_sweep_leaves_an_update_being_handled_alone(db, processors, client_a,
                                                              monkeypatch) -> None:
    calls: list[int] = []
    release = asyncio.Event()

    async def slow_handler(message: Message) -> None:
        calls.append(message.message_id)
        await release.wait()

    handling, other_replica = processors(slow_handler), processors(slow_handler)
    task = asyncio.create_task(handling.receive(client_a, manager_text(1)))
    while not calls:
        await asyncio.sleep(0.01)
    await db.execute("UPDATE telegram_updates SET received_at = now() - interval '5 minutes'")

    assert await asyncio.wait_for(other_replica.sweep(stale_after=STALE, keep_for=KEEP), 2) == 0
    release.set()
    await task
    assert calls == [700]
    assert await db.fetchval("SELECT processed_at IS NOT NULL FROM telegram_updates")
    await lease_runs_out(db)
    assert await other_replica.sweep(stale_after=STALE, keep_for=KEEP) == 0


async def test_transient_failures_are_retried_up_to_the_cap(db, processors, client_a, monkeypatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def failing_handler(message: Message) -> None:
        calls.append(message.message_id)
        raise ConnectionResetError("database went away")

    processor = processors(failing_handler)
    with caplog.at_level(logging.WARNING, logger="channels.telegram.updates"):
        await processor.receive(client_a, manager_text(1))
        assert await db.fetchval("SELECT processed_at FROM telegram_updates") is None
        assert await processor.sweep(stale_after=STALE, keep_for=KEEP) == 0  # the lease holds
        for _ in range(10):
            await lease_runs_out(db)
            await processor.sweep(stale_after=STALE, keep_for=KEEP)
    assert len(calls) == MAX_ATTEMPTS == 5
    row = await db.fetchrow("SELECT attempts, processed_at FROM telegram_updates")
    assert row["attempts"] == MAX_ATTEMPTS and row["processed_at"] is not None
    given_up = [r for r in caplog.records if r.getMessage() == "telegram update given up: too many attempts"]
    assert len(given_up) == 1 and given_up[0].levelno == logging.ERROR


async def test_an_update_whose_handlers_keep_dying_is_given_up(db, processors, client_a,
                                                                monkeypatch) -> None:
    calls: list[int] = []

    async def handler(message: Message) -> None:
        calls.append(message.message_id)

    processor = processors(handler)
    await processor.accept(client_a, manager_text(1))
    await db.execute("UPDATE telegram_updates SET attempts = $1", MAX_ATTEMPTS)  # each died mid-way
    await lease_runs_out(db)
    assert await processor.sweep(stale_after=STALE, keep_for=KEEP) == 1
    assert calls == []
    assert await db.fetchval("SELECT processed_at IS NOT NULL FROM telegram_updates")


async def test_a_permanent_failure_drops_the_update_at_once(db, processors, client_a, monkeypatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def broken_handler(message: Message) -> None:
        calls.append(message.message_id)
        raise KeyError("a bug")

    processor = processors(broken_handler)
    with caplog.at_level(logging.ERROR, logger="channels.telegram.updates"):
        await processor.receive(client_a, manager_text(1))
    await lease_runs_out(db)
    await processor.sweep(stale_after=STALE, keep_for=KEEP)
    assert calls == [700]
    assert await db.fetchval("SELECT processed_at IS NOT NULL FROM telegram_updates")
    assert [r.getMessage() for r in caplog.records] == ["telegram update failed"]


async def test_a_long_handling_keeps_its_lease_by_heartbeat(db, processors, client_a) -> None:
    """The handling outlasts its first lease: the heartbeat moves the lease on, so another
    replica's sweep still leaves the update alone."""
    calls: list[int] = []
    release = asyncio.Event()

    async def slow_handler(message: Message) -> None:
        calls.append(message.message_id)
        await release.wait()

    lease = timedelta(seconds=1.5)
    handling = processors(slow_handler, lease=lease)
    other_replica = processors(slow_handler, lease=lease)
    task = asyncio.create_task(handling.receive(client_a, manager_text(1)))
    await wait_for(lambda: calls)
    first = await db.fetchval("SELECT claimed_until FROM telegram_updates")
    await wait_for(lambda: greater(db.fetchval("SELECT claimed_until FROM telegram_updates"),
                                   first))
    await db.execute("UPDATE telegram_updates SET received_at = now() - interval '5 minutes'")
    assert await other_replica.sweep(stale_after=STALE, keep_for=KEEP) == 0
    release.set()
    await task
    assert calls == [700]
    assert await db.fetchval("SELECT processed_at IS NOT NULL FROM telegram_updates")


async def greater(query, than) -> bool:
    return await query > than


async def test_a_hung_handling_is_cut_and_never_blocks_the_next_update(db, processors,
                                                                       client_a) -> None:
    """A handler that never returns is cut after the timeout; the client's next update is
    handled at once, and the hung one is tried again by the sweep, then set aside."""
    handled: list[str] = []

    async def handler(message: Message) -> None:
        if message.text == "яд":
            await asyncio.Event().wait()  # never returns
        handled.append(message.text or "")

    processor = processors(handler, timeout=0.5)
    poison = {"update_id": 1, **topic_message(GROUP_A, 10, "яд")}
    await asyncio.wait_for(processor.receive(client_a, poison), 10)
    await processor.receive(client_a, {"update_id": 2, **topic_message(GROUP_A, 10, "дальше")})
    assert handled == ["дальше"]
    unhandled = await db.fetch("SELECT update_id FROM telegram_updates WHERE processed_at IS NULL")
    assert [r["update_id"] for r in unhandled] == [1]
    for _ in range(MAX_ATTEMPTS + 2):
        await lease_runs_out(db)
        await processor.sweep(stale_after=STALE, keep_for=KEEP)
    row = await db.fetchrow("SELECT attempts, processed_at FROM telegram_updates WHERE update_id = 1")
    assert row["attempts"] == MAX_ATTEMPTS and row["processed_at"] is not None
