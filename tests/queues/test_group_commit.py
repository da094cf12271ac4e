"""Group commit: writes that come together share one statement, each caller answered with its own
result once it is committed; a bad item fails alone. And its use for deliveries sent: one
statement records a batch, fenced by each row's attempt."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import asyncpg

from core.outbound import CustomerText
from storage.group_commit import GroupCommit
from storage.repositories import outbox
from storage.store import PgStore
from tests.factories import make_client


class Recorder:
    def __init__(self, bad: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.bad = bad

    async def write_many(self, items: Sequence[str]) -> list[str]:
        self.batches.append(list(items))
        await asyncio.sleep(0)  # a round trip: more writes come meanwhile
        if self.bad in items:
            raise ValueError(f"cannot write {self.bad}")
        return [item.upper() for item in items]


async def test_writes_that_come_together_share_one_batch_and_get_their_own_results() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder.write_many, what="test")
    results = await asyncio.gather(*(group.submit(item) for item in ("a", "b", "c")))
    assert results == ["A", "B", "C"]
    assert recorder.batches == [["a", "b", "c"]]
    # one that comes later, alone, is written at once in a batch of its own
    assert await group.submit("d") == "D"
    assert recorder.batches[-1] == ["d"]


async def test_a_bad_item_fails_alone() -> None:
    recorder = Recorder(bad="b")
    group = GroupCommit(recorder.write_many, what="test")
    results = await asyncio.gather(*(group.submit(item) for item in ("a", "b", "c")),
                                   return_exceptions=True)
    assert results[0] == "A" and results[2] == "C"
    assert isinstance(results[1], ValueError)
    assert recorder.batches == [["a", "b", "c"], ["a"], ["b"], ["c"]]


async def test_deliveries_sent_together_are_recorded_in_one_statement_fenced_by_attempt(
        db: asyncpg.Pool) -> None:
    client = await make_client(db, "salon")
    async with PgStore(db).transaction() as tx:
        for key in ("one", "two", "three"):
            await tx.outbox.enqueue(
                client.id, CustomerText(None, "77010000000@s.whatsapp.net", key), key)
    deliveries = await outbox.claim_due(db, limit=3, lease=timedelta(seconds=30))
    assert len(deliveries) == 3
    by_key = {d.idempotency_key: d for d in deliveries}
    # "three" was taken over after its lease: its next attempt is not ours to record
    await db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = $1", by_key["three"].id)
    await outbox.mark_sent(db, [(by_key["two"], {"id": "m2"}), (by_key["one"], None),
                                (by_key["three"], {"id": "m3"})])
    rows = {r["idempotency_key"]: r for r in await db.fetch(
        "SELECT idempotency_key, status, result FROM outbox")}
    assert rows["one"]["status"] == "sent" and rows["one"]["result"] is None
    assert rows["two"]["status"] == "sent" and rows["two"]["result"] == {"id": "m2"}
    assert rows["three"]["status"] == "processing"

