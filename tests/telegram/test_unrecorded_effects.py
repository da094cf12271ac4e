"""What the Telegram sender did outside (a topic created, a card sent) is recorded through a
database blip, so that the outbox's retry does not do it a second time."""

from __future__ import annotations

import asyncpg
import pytest

from storage import retry
from storage.repositories.desk import PgDeskRecords
from tests.telegram.conftest import open_request, outbox_rows


def failing_once(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    name = f"_{name}"  # the write itself, under the adapter's retries
    real = getattr(PgDeskRecords, name)
    failures = [1]

    async def flaky(self, *args, **kwargs):
        if failures[0] > 0:
            failures[0] -= 1
            raise OSError("connection reset by peer")
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(PgDeskRecords, name, flaky)
    return failures


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "DELAYS", (0.01, 0.02))


async def test_card_sent_once_when_storing_its_id_fails_once(
        db: asyncpg.Pool, desk, tg, client_a, monkeypatch: pytest.MonkeyPatch) -> None:
    await open_request(db, client_a)
    failures = failing_once(monkeypatch, "set_card_message")
    await desk.run()
    await desk.make_due()
    await desk.run()
    assert failures == [0]
    assert len(tg.of("sendMessage")) == 1
    (pin,) = tg.of("pinChatMessage")
    assert await db.fetchval("SELECT telegram_message_id FROM handovers") == pin.params["message_id"]
    assert [r["status"] for r in await outbox_rows(db)] == ["sent"]


async def test_topic_created_once_when_storing_it_fails_once(
        db: asyncpg.Pool, desk, tg, client_a, monkeypatch: pytest.MonkeyPatch) -> None:
    await open_request(db, client_a)
    failures = failing_once(monkeypatch, "set_topic")
    await desk.run()
    await desk.make_due()
    await desk.run()
    assert failures == [0]
    assert len(tg.of("createForumTopic")) == 1 and len(tg.of("sendMessage")) == 1
    assert await db.fetchval("SELECT telegram_topic_id FROM conversations") == 10
