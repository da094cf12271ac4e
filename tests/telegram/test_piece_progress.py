"""A message posted in several pieces (past Telegram's 4096 characters) records each piece in its
outbox row as it goes: when a later piece fails, the retry resumes there and the pieces already
in the topic are not posted again."""

from __future__ import annotations

from core.outbound import Mirror
from tests.telegram.conftest import open_request, outbox_rows
from tests.telegram.fakes import FakeTelegram
from tests.telegram.test_flood_control import flood_desk  # noqa: F401 (fixture)
from tests.telegram.test_topic_effects import enqueue

LINES = ["а" * 3000, "б" * 3000, "в" * 3000]  # three pieces


def fail_piece(tg: FakeTelegram, marker: str, status: int, description: str,
               retry_after: int | None = None) -> None:
    """Make the first sendMessage whose text contains `marker` fail once."""
    class Trap(list):
        armed = True

        def append(self, call) -> None:
            super().append(call)
            if self.armed and call.method == "sendMessage" and marker in call.params.get("text", ""):
                self.armed = False
                tg.fail("sendMessage", status, description, retry_after=retry_after)

    tg.calls = Trap(tg.calls)


def posted(tg: FakeTelegram, letter: str) -> int:
    return sum(letter * 100 in t for t in tg.sent_texts())


async def test_a_429_on_the_second_piece_does_not_repeat_the_first(db, flood_desk, tg,  # noqa: F811
                                                                   client_a) -> None:
    escalation = await open_request(db, client_a)
    await flood_desk.run()
    await enqueue(db, client_a.id, Mirror(escalation.handover.conversation_id, tuple(LINES)),
                  "m-long")
    fail_piece(tg, "б" * 100, 429, "Too Many Requests: retry after 3", retry_after=3)
    await flood_desk.run()
    row = (await outbox_rows(db))[-1]
    assert row["status"] == "pending" and row["attempts"] == 0
    assert len(row["result"]["message_ids"]) == 1  # the first piece, recorded

    await flood_desk.later(3)
    await flood_desk.run()
    row = (await outbox_rows(db))[-1]
    assert row["status"] == "sent"
    assert (posted(tg, "а"), posted(tg, "б"), posted(tg, "в")) == (1, 2, 1)  # б: refused, then sent
    assert len(row["result"]["message_ids"]) == 3
    texts = [t for t in tg.sent_texts() if "Новая заявка" not in t]
    assert texts[0].startswith("👤 Клиент: ааа") and texts[-1].startswith("ввв")


async def test_a_server_error_on_the_last_piece_resumes_there(db, desk, tg, client_a) -> None:
    escalation = await open_request(db, client_a)
    await desk.run()
    await enqueue(db, client_a.id, Mirror(escalation.handover.conversation_id, tuple(LINES)),
                  "m-long")
    fail_piece(tg, "в" * 100, 500, "Internal Server Error")
    await desk.run()
    row = (await outbox_rows(db))[-1]
    assert row["status"] == "pending" and len(row["result"]["message_ids"]) == 2
    await desk.make_due()
    await desk.run()
    row = (await outbox_rows(db))[-1]
    assert row["status"] == "sent" and row["attempts"] == 2
    assert (posted(tg, "а"), posted(tg, "б"), posted(tg, "в")) == (1, 1, 2)
    assert len(row["result"]["message_ids"]) == 3
