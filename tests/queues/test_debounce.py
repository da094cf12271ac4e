"""A burst's debounce (PRODUCT.md §4 step 2): each message moves the turn to the debounce window
after it, never past MAX_WAIT_SECONDS after the burst's first message."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from storage.repositories.inbox import MAX_WAIT_SECONDS
from tests.factories import accept_event, make_client

JID = "77011234567@s.whatsapp.net"


async def _accept(db: asyncpg.Pool, client_id, n: int):
    return await accept_event(db, client_id=client_id, branch_id=None, channel="whatsapp",
                              remote_jid=JID, name="Айгерим", provider_message_id=f"D-{n}",
                              payload={"inbound": {"text": f"сообщение {n}"}}, debounce=3.0)


async def test_a_burst_is_answered_at_most_ten_seconds_after_its_first_message(db) -> None:
    client = await make_client(db)
    conv, _ = await _accept(db, client.id, 0)
    first = await db.fetchrow("SELECT due_at - first_at AS wait FROM turn_queue "
                              "WHERE conversation_id = $1", conv)
    assert first["wait"] == timedelta(seconds=3)  # quiet for the window after the message

    # the customer has kept typing for 9 s: the next message may not push the turn to 12 s
    await db.execute("UPDATE turn_queue SET first_at = first_at - interval '9 seconds' "
                     "WHERE conversation_id = $1", conv)
    await _accept(db, client.id, 1)
    burst = await db.fetchrow("SELECT due_at - first_at AS since_first, due_at - last_at AS "
                              "since_last FROM turn_queue WHERE conversation_id = $1", conv)
    assert burst["since_first"] == timedelta(seconds=MAX_WAIT_SECONDS)
    assert burst["since_last"] < timedelta(seconds=1.5)
