"""The heartbeat renews a running turn's lease on its queue row and on its events, only while the
claim is still its own, and never deadlocks with turns completing at the same moment (a
completion locks its events, then its queue row): it skips rows another transaction holds."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from storage.repositories import inbox
from tests.factories import accept_event, make_client

LEASE = timedelta(seconds=15)


async def _queue_turns(db, client, customers: int) -> list[inbox.ClaimedTurn]:
    for n in range(customers):
        await accept_event(db, client_id=client.id, branch_id=None, channel="whatsapp",
                           remote_jid=f"7701{n:07d}@s.whatsapp.net", name=None,
                           provider_message_id=f"m{n}", payload={"inbound": {"text": "привет"}},
                           debounce=0)
    return await inbox.claim_turns(db, limit=customers, lease=LEASE)


async def test_renewal_extends_own_claims_only(db) -> None:
    client = await make_client(db, "lease")
    turns = await _queue_turns(db, client, 2)
    assert len(turns) == 2
    mine, taken_over = turns
    await db.execute("UPDATE turn_queue SET due_at = now(), attempts = attempts + 1 "
                     "WHERE conversation_id = $1", taken_over.conversation_id)
    await db.execute("UPDATE inbound_events SET locked_until = now(), attempts = attempts + 1 "
                     "WHERE conversation_id = $1", taken_over.conversation_id)

    await inbox.renew(db, turns, timedelta(minutes=10))

    rows = {r["conversation_id"]: r for r in await db.fetch(
        """SELECT q.conversation_id, q.due_at > now() + interval '5 minutes' AS queue_renewed,
                  e.locked_until > now() + interval '5 minutes' AS event_renewed
             FROM turn_queue q JOIN inbound_events e USING (conversation_id)""")}
    assert rows[mine.conversation_id]["queue_renewed"] and rows[mine.conversation_id]["event_renewed"]
    assert not rows[taken_over.conversation_id]["queue_renewed"]
    assert not rows[taken_over.conversation_id]["event_renewed"]


async def test_renewals_and_completions_at_once_do_not_deadlock(db) -> None:
    client = await make_client(db, "lease")
    turns = await _queue_turns(db, client, 40)

    async def complete(turn: inbox.ClaimedTurn) -> None:
        """What `InboxRepo.mark_done` does, with a pause between its two steps."""
        async with db.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE inbound_events SET status = 'done' WHERE conversation_id = $1",
                               turn.conversation_id)
            await asyncio.sleep(0.05)  # the events are locked; the heartbeat comes now
            await inbox.reschedule(conn, turn.conversation_id, None)

    async def heartbeat() -> None:
        for _ in range(10):
            await asyncio.sleep(0.01)
            await inbox.renew(db, list(reversed(turns)), LEASE)

    await asyncio.gather(heartbeat(), *(complete(t) for t in turns), heartbeat())

    assert await db.fetchval("SELECT count(*) FROM turn_queue") == 0
    assert await db.fetchval("SELECT count(*) FROM inbound_events WHERE status = 'done'") == 40


async def test_renewal_skips_rows_a_completing_turn_holds_instead_of_waiting(db) -> None:
    client = await make_client(db, "lease")
    turns = await _queue_turns(db, client, 2)
    completing, running = turns
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE inbound_events SET status = 'done' WHERE conversation_id = $1",
                           completing.conversation_id)
        await conn.execute("SELECT 1 FROM turn_queue WHERE conversation_id = $1 FOR UPDATE",
                           completing.conversation_id)
        # the completion has not committed: a heartbeat that waited for its rows would hang here
        await asyncio.wait_for(inbox.renew(db, turns, timedelta(minutes=10)), timeout=10)

    renewed = {r["conversation_id"]: r["renewed"] for r in await db.fetch(
        """SELECT conversation_id, bool_and(locked_until > now() + interval '5 minutes') AS renewed
             FROM inbound_events GROUP BY conversation_id""")}
    assert renewed[running.conversation_id] is True
    assert await db.fetchval(
        "SELECT due_at > now() + interval '5 minutes' FROM turn_queue WHERE conversation_id = $1",
        running.conversation_id)
