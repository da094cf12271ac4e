"""The outbox worker records each outcome even through a database blip: a message that went out
is never left `processing` (re-sent after its lease) because one write failed."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from core.delivery import Delivery, DeliveryOutcome
from core.outbound import CustomerText
from gateway.outbox_worker import OutboxWorker
from storage import retry
from storage.repositories import outbox
from storage.store import PgStore, PgTenants
from tests.factories import make_client


class RecordingSender:
    def __init__(self, outcome: DeliveryOutcome | None = None) -> None:
        self.delivered: list[str] = []
        self.outcome = outcome or DeliveryOutcome.sent({"id": "m1"})

    async def deliver(self, delivery: Delivery) -> DeliveryOutcome:
        self.delivered.append(delivery.idempotency_key)
        return self.outcome


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "DELAYS", (0.01, 0.02, 0.05))


async def queue_one(db: asyncpg.Pool, key: str = "row-1") -> int:
    client = await make_client(db, "salon")
    async with PgStore(db).transaction() as tx:
        await tx.outbox.enqueue(client.id, CustomerText(None, "77010000000@s.whatsapp.net", "hi"),
                                key)
    return await db.fetchval("SELECT id FROM outbox WHERE idempotency_key = $1", key)


def failing_once(monkeypatch: pytest.MonkeyPatch, name: str, times: int = 1) -> list[int]:
    real = getattr(outbox, name)
    failures = [times]

    async def flaky(*args, **kwargs):
        if failures[0] > 0:
            failures[0] -= 1
            raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")
        return await real(*args, **kwargs)

    monkeypatch.setattr(outbox, name, flaky)
    return failures


async def test_a_failed_mark_sent_is_retried_and_the_row_is_sent_once(
        db: asyncpg.Pool, database_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    row = await queue_one(db)
    failures = failing_once(monkeypatch, "mark_sent")
    sender = RecordingSender()
    worker = OutboxWorker(db, database_dsn, {"whatsapp": sender}, store=PgStore(db),
                          tenants=PgTenants(db))
    assert await worker.run_once() == 1
    assert failures == [0]
    assert await db.fetchval("SELECT status FROM outbox WHERE id = $1", row) == "sent"
    assert await worker.run_once() == 0
    assert sender.delivered == ["row-1"]


@pytest.mark.parametrize("outcome, status", [
    (DeliveryOutcome.failed("peer down"), "pending"),
    (DeliveryOutcome.failed("refused", retryable=False), "failed"),
])
async def test_retry_and_failed_outcomes_are_recorded_through_a_blip(
        db: asyncpg.Pool, database_dsn: str, monkeypatch: pytest.MonkeyPatch,
        outcome: DeliveryOutcome, status: str) -> None:
    row = await queue_one(db)
    failing_once(monkeypatch, "mark_retry" if status == "pending" else "mark_failed")
    worker = OutboxWorker(db, database_dsn, {"whatsapp": RecordingSender(outcome)},
                          store=PgStore(db), tenants=PgTenants(db))
    assert await worker.run_once() == 1
    assert await db.fetchval("SELECT status FROM outbox WHERE id = $1", row) == status


async def test_an_outcome_that_cannot_be_recorded_is_logged_not_lost_in_the_task(
        db: asyncpg.Pool, database_dsn: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    row = await queue_one(db)
    failing_once(monkeypatch, "mark_sent", times=100)
    worker = OutboxWorker(db, database_dsn, {"whatsapp": RecordingSender()},
                          store=PgStore(db), tenants=PgTenants(db))
    loop_errors: list[dict] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: loop_errors.append(ctx))
    await worker.start()
    try:
        for _ in range(100):
            if any("not recorded" in r.message for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    finally:
        await worker.stop()
    [logged] = [r for r in caplog.records if "not recorded" in r.message]
    assert logged.levelno == logging.ERROR and logged.delivery == row
    assert loop_errors == []  # the task did not die with an exception nobody retrieved
    assert await db.fetchval("SELECT status FROM outbox WHERE id = $1", row) == "processing"
