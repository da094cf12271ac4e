"""The queues' claims stay on their own indexes whatever the backlog and whatever the table
statistics say: the statistics are taken while the queues are empty (their normal idle state),
then a backlog of 20,000 events arrives, and each claim is still an index scan that touches a
bounded number of rows (no anti-join over the whole queue, no sort of it)."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg

from core.outbound import TopicMessage, encode
from storage.repositories import inbox, outbox
from tests.factories import make_client

BACKLOG = 20_000
CUSTOMERS = 4_000


async def _plan(db: asyncpg.Pool, sql: str) -> str:
    return json.dumps(await db.fetchval(f"EXPLAIN (FORMAT JSON) {sql}"))


async def test_turn_claims_use_the_due_index_after_stale_statistics(db) -> None:
    client = await make_client(db, "burst")
    await db.execute("ANALYZE turn_queue; ANALYZE inbound_events")  # taken while empty
    async with db.acquire() as conn, conn.transaction():  # what the webhooks of a burst write
        await conn.execute(
            """INSERT INTO users (client_id, remote_jid, phone)
               SELECT $1, (7701000000 + n)::text || '@s.whatsapp.net', (7701000000 + n)::text
                 FROM generate_series(1, $2) AS n""", client.id, CUSTOMERS)
        await conn.execute("INSERT INTO conversations (client_id, user_id) SELECT client_id, id FROM users")
        await conn.execute(
            """INSERT INTO inbound_events (client_id, channel, provider_message_id, conversation_id,
                                           payload)
               SELECT $1, 'whatsapp', 'burst-' || n || '-' || c.id, c.id, '{"inbound": {"text": "привет"}}'
                 FROM generate_series(1, $2::int / $3::int) AS n CROSS JOIN conversations c""",
            client.id, BACKLOG, CUSTOMERS)
        await conn.execute(
            """INSERT INTO turn_queue (conversation_id, client_id, first_at, last_at, due_at)
               SELECT id, client_id, now(), now(), now() FROM conversations""")
    assert await db.fetchval("SELECT count(*) FROM turn_queue") == CUSTOMERS

    plan = await _plan(db, """SELECT conversation_id FROM turn_queue WHERE due_at <= now()
                               ORDER BY due_at LIMIT 4 FOR UPDATE SKIP LOCKED""")
    assert "turn_queue_due" in plan and "Sort" not in plan
    # the claim's candidates: each client's earliest due conversations, on their own index
    plan = await _plan(db, inbox.CLAIM_CANDIDATES.replace("$1", "4"))
    assert "turn_queue_client_due" in plan and "turn_queue_leased" in plan and "Sort" not in plan

    turns = await inbox.claim_turns(db, limit=4, lease=timedelta(seconds=15), view_history=20)
    assert len(turns) == 4
    assert all(len(t.events) == BACKLOG // CUSTOMERS and t.view is not None for t in turns)
    waiting = await db.fetchval("SELECT count(*) FROM turn_queue WHERE due_at <= now()")
    assert waiting == CUSTOMERS - 4  # the claimed ones are leased away from the due prefix

    # a turn's end reads its own conversation's waiting events on the queue's index
    events = turns[0].events
    plan = json.dumps(await db.fetchval(
        f"EXPLAIN (FORMAT JSON) {inbox._END_TURN}", [e.id for e in events],
        [e.attempts for e in events], "done", None, 60.0))
    assert "inbound_events_queue" in plan and "Seq Scan" not in plan
    # and so does a turn released for a retry (the same requeueing, fenced by the claim's token)
    plan = json.dumps(await db.fetchval(
        f"EXPLAIN (FORMAT JSON) {inbox._RESCHEDULE}", turns[1].conversation_id, turns[1].token,
        timedelta(seconds=5), 60.0))
    assert "inbound_events_queue" in plan and "Seq Scan" not in plan


async def test_outbox_claims_probe_each_lane_by_index_after_stale_statistics(db) -> None:
    client = await make_client(db, "burst")
    await db.execute("ANALYZE outbox")
    _, kind, payload = encode(TopicMessage(client.id, "заметка"))
    await db.execute(
        """INSERT INTO outbox (client_id, channel, kind, payload, idempotency_key, deliver_until)
           SELECT $1, 'telegram', $2, $3, 'note-' || n, now() + interval '1 day'
             FROM generate_series(1, $4) AS n""",
        client.id, kind, payload, BACKLOG)

    plan = await _plan(db, """SELECT o.id FROM outbox o
                               WHERE o.status IN ('pending', 'processing') AND o.next_attempt_at <= now()
                                 AND NOT EXISTS (SELECT 1 FROM outbox older
                                                  WHERE older.conversation_id = o.conversation_id
                                                    AND older.channel = o.channel AND older.id < o.id
                                                    AND older.status IN ('pending', 'processing')
                                                 OFFSET 0)
                               ORDER BY o.next_attempt_at LIMIT 4 FOR UPDATE SKIP LOCKED""")
    assert "outbox_due" in plan and "Anti Join" not in plan and "Sort" not in plan

    claimed = await outbox.claim_due(db, limit=4, lease=timedelta(seconds=30))
    assert len(claimed) == 4
