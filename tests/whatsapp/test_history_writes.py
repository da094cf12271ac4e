"""A turn's customer messages are stored in one statement (`MessagesRepo.add_many`), in their
order, with their metadata; the history reads them back in that order."""

from __future__ import annotations

from core.models import Role
from core.ports import NewMessage
from storage.store import PgStore
from tests.factories import make_client, make_conversation


async def test_a_turns_messages_are_stored_in_order_in_one_statement(db) -> None:
    client = await make_client(db, "history")
    conversation = await make_conversation(db, client.id)
    store = PgStore(db)
    async with store.transaction() as tx:
        await tx.messages.add(conversation, Role.ASSISTANT, "earlier")
        await tx.messages.add_many(conversation, Role.USER, [
            NewMessage(f"line {n}", provider_message_id=f"p{n}") for n in range(12)]
            + [NewMessage("[image]", metadata={"type": "image", "media": {"url": "u"}})])
        await tx.messages.add_many(conversation, Role.USER, [])
        history = await tx.messages.history(conversation, 20)
    assert [(line.role, line.content) for line in history] == [
        (Role.ASSISTANT, "earlier"), *((Role.USER, f"line {n}") for n in range(12)),
        (Role.USER, "[image]")]
    rows = await db.fetch("SELECT provider_message_id, metadata FROM messages "
                          "WHERE conversation_id = $1 ORDER BY id", conversation)
    assert [r["provider_message_id"] for r in rows] == [None, *(f"p{n}" for n in range(12)), None]
    assert rows[-1]["metadata"] == {"type": "image", "media": {"url": "u"}}
    assert rows[1]["metadata"] == {}
