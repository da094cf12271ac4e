"""A turn's completion (`InboxRepo.mark_done`): its events done, its conversation out of the
queue, or due again after its debounce when messages came during the turn; a turn whose events
were claimed again changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.ports import LostClaim
from storage.repositories import inbox
from storage.repositories.conversations import ConversationsRepo
from tests.factories import make_client
from tests.queues.test_flood_claims import LEASE, done, send


async def test_a_finished_turn_leaves_the_queue(db) -> None:
    client = await make_client(db, "finished", debounce_seconds=0)
    await send(db, client.id, ["привет", "сколько стоит маникюр?"])
    (turn,) = await inbox.claim_turns(db, limit=1, lease=LEASE)
    await done(db, turn)
    assert await db.fetchval("SELECT count(*) FROM turn_queue") == 0
    assert await db.fetchval("SELECT array_agg(DISTINCT status) FROM inbound_events") == ["done"]


async def test_messages_that_came_during_the_turn_wait_for_their_debounce(db) -> None:
    client = await make_client(db, "during", debounce_seconds=3)
    conversation = await send(db, client.id, ["привет"])
    await db.execute("UPDATE turn_queue SET due_at = now()")  # its debounce is over
    (turn,) = await inbox.claim_turns(db, limit=1, lease=LEASE)
    await send(db, client.id, ["а педикюр?"], prefix="later")
    await done(db, turn)
    row = await db.fetchrow(
        """SELECT q.leased, q.first_at = e.received_at AS from_the_new_one,
                  q.due_at - e.received_at AS wait
             FROM turn_queue q JOIN inbound_events e USING (conversation_id)
            WHERE e.provider_message_id = 'later0'""")
    assert row is not None and not row["leased"] and row["from_the_new_one"]
    assert row["wait"] == timedelta(seconds=3)
    assert await db.fetchval("SELECT count(*) FROM turn_queue WHERE conversation_id = $1",
                             conversation) == 1
    assert not await inbox.claim_turns(db, limit=1, lease=LEASE)  # not before its debounce


async def test_a_turn_whose_events_were_claimed_again_changes_nothing(db) -> None:
    client = await make_client(db, "lost", debounce_seconds=0)
    await send(db, client.id, ["привет"])
    (turn,) = await inbox.claim_turns(db, limit=1, lease=LEASE)
    await db.execute("UPDATE inbound_events SET attempts = attempts + 1")  # taken over
    with pytest.raises(LostClaim):
        await done(db, turn)
    assert await db.fetchval("SELECT leased FROM turn_queue") is True
    assert await db.fetchval("SELECT status FROM inbound_events") == "processing"


async def test_a_claim_carries_the_conversation_view_the_turn_would_read(db) -> None:
    client = await make_client(db, "view", debounce_seconds=0)
    conversation = await send(db, client.id, ["привет", "сколько стоит маникюр?", "и педикюр"])
    await db.execute(
        """INSERT INTO messages (conversation_id, role, content)
           SELECT $1, 'user', 'раньше ' || n FROM generate_series(1, 5) AS n""", conversation)
    (turn,) = await inbox.claim_turns(db, limit=1, lease=LEASE, view_history=3)
    assert len(turn.events) == 3 and turn.view is not None  # one view, whatever the events
    async with db.acquire() as conn:
        read = await ConversationsRepo(conn).turn_view(conversation, 3)
    assert read is not None
    assert (turn.view.conversation, turn.view.customer) == (read.conversation, read.customer)
    assert [line.content for line in turn.view.history] == ["раньше 3", "раньше 4", "раньше 5"]
    assert turn.view.history == read.history
    await done(db, turn)

    await send(db, client.id, ["ещё"], prefix="next")
    (plain,) = await inbox.claim_turns(db, limit=1, lease=LEASE)
    assert plain.view is None  # not asked for


async def test_a_retried_turn_reads_its_conversation_afresh(db) -> None:
    client = await make_client(db, "view-retry", debounce_seconds=0)
    await send(db, client.id, ["привет"])
    (turn,) = await inbox.claim_turns(db, limit=1, lease=LEASE, view_history=3)
    await inbox.release(db, turn, "boom", retry_in=timedelta(0))
    (again,) = await inbox.claim_turns(db, limit=1, lease=LEASE, view_history=3)
    assert again.events[0].attempts == 2 and again.view is None
