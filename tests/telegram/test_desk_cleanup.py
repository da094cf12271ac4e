"""Resolve and return give the conversation back to the bot clean (PRODUCT.md §5): the mute a
declined offer set and the count of declines go with the request."""

from __future__ import annotations

import pytest

from core.desk import Action, Actor, Desk
from core.models import State
from storage.store import PgStore
from tests.telegram.conftest import open_request

MANAGER = Actor(501, "Айдана")


@pytest.mark.parametrize("steps", [(Action.TAKE, Action.RESOLVE), (Action.RETURN,)],
                         ids=["resolve", "return"])
async def test_the_request_s_end_clears_the_mute_and_the_declines(db, desk, tg, client_a,
                                                                   steps) -> None:
    escalation = await open_request(db, client_a)
    await desk.run()  # the card is in its topic: a manager can take it
    conversation = escalation.handover.conversation_id
    await db.execute("UPDATE conversations SET bot_muted_until = now() + interval '1 hour', "
                     "no_count = 2 WHERE id = $1", conversation)
    actions = Desk(PgStore(db))
    for action in steps:
        assert (await actions.act(action, escalation.handover.id, MANAGER)).ok
    row = await db.fetchrow("SELECT state, bot_muted_until, no_count FROM conversations "
                            "WHERE id = $1", conversation)
    assert row["state"] == State.BOT_ACTIVE
    assert row["bot_muted_until"] is None and row["no_count"] == 0
